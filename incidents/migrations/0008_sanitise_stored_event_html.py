"""Stored timeline HTML under the sanitiser's current rules: no id on anything, and only the
classes the Markdown extensions write (common/markdown.py). Notes written before could carry an
id the incident page's live sections use, or a class that dressed them as the page's badges."""

from django.db import migrations
from django.db.models import Q

from common.markdown import sanitize_html


def resanitise(apps, schema_editor):
    TimelineEvent = apps.get_model("incidents", "TimelineEvent")
    suspects = (
        TimelineEvent.objects.filter(Q(body_html__contains=" id=") | Q(body_html__contains=" class="))
        .only("pk", "body_html")
        .order_by("pk")
    )
    batch = []
    for event in suspects.iterator(chunk_size=2000):
        clean = sanitize_html(event.body_html)
        if clean != event.body_html:
            event.body_html = clean
            batch.append(event)
        if len(batch) >= 2000:
            TimelineEvent.objects.bulk_update(batch, ["body_html"])
            batch = []
    if batch:
        TimelineEvent.objects.bulk_update(batch, ["body_html"])


class Migration(migrations.Migration):
    dependencies = [("incidents", "0007_list_sort_indexes")]

    operations = [migrations.RunPython(resanitise, migrations.RunPython.noop)]
