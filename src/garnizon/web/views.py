from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def my_work(request: HttpRequest) -> HttpResponse:
    return render(request, "web/my_work.html", {})
