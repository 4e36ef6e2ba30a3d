from common.middleware import htmx_config


def vigil(request):
    return {"htmx_config": htmx_config()}
