import os

from django.core.wsgi import get_wsgi_application

from common.garbage_collection import settle_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
application = get_wsgi_application()
settle_web_process()
