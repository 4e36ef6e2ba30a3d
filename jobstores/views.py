from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from jobstores.selectors import stores_for


@login_required
def store_list(request):
    return render(request, "jobstores/list.html", {"stores": stores_for(request.user)})
