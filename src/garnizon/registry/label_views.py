"""Staff views for incoming items' barcode labels: a PDF, and ZPL to a label printer.

Both serve only items the user may see (404 otherwise) and record an "export"
in the audit trail. Wired in garnizon.web.urls; see docs/labels.md.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from garnizon.audit.services import audit_record
from garnizon.common.errors import DomainError
from garnizon.registry.labels import label_pdf, label_zpl, send_zpl
from garnizon.registry.models import IncomingItem
from garnizon.registry.printers import label_printer, label_printers
from garnizon.registry.selectors import incoming_visible_to


def _item(request: HttpRequest, item_id: int) -> IncomingItem:
    item = incoming_visible_to(request.user).filter(pk=item_id).select_related("unit").first()
    if item is None:
        raise Http404(_("Nie ma takiej przesyłki albo nie masz do niej dostępu."))
    return item


@login_required
@require_GET
def incoming_label_pdf(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    try:
        pdf = label_pdf(item)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("web:incoming_detail", item_id=item.pk)
    audit_record(actor=request.user, action="export", obj=item, details={"label": "pdf"})
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = "etykieta-" + item.registration_number.replace("/", "-") + ".pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def incoming_label_print(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    if request.method == "GET":
        return render(
            request, "registry/label_print.html", {"item": item, "printers": label_printers()}
        )
    name = request.POST.get("printer", "")
    printer = label_printer(name)
    if printer is None:
        messages.error(request, _("Wybierz drukarkę etykiet z listy."))
        return redirect("web:incoming_label_print", item_id=item.pk)
    try:
        send_zpl(label_zpl(item), printer.host, printer.port)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("web:incoming_detail", item_id=item.pk)
    # Recorded after the send: holding the audit chain's lock over a network call
    # would stall every other audited action for up to the timeout.
    audit_record(
        actor=request.user,
        action="export",
        obj=item,
        details={"label": "zpl", "printer": printer.name},
    )
    messages.success(request, _("Etykietę wysłano do drukarki %(p)s.") % {"p": printer.name})
    return redirect("web:incoming_detail", item_id=item.pk)
