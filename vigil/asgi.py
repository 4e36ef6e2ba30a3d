import os

from django.core.asgi import get_asgi_application

from vigil.garbage_collection import settle_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
application = get_asgi_application()
settle_web_process()
