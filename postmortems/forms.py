from django import forms

from postmortems.models import ActionItemStatus, Priority


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=300, label="Action")
    owner = forms.ModelChoiceField(queryset=None, label="Owner", empty_label="Choose an owner")
    due_date = forms.DateField(label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.ChoiceField(choices=Priority.choices, label="Priority", initial=Priority.P1)
    tracker_url = forms.URLField(
        required=False, label="Tracker link (optional)", assume_scheme="https"
    )

    def __init__(self, *args, users, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Any active user validates here, so the service can say clearly when one is not in
        # the team; the menu offers the team's members.
        self.fields["owner"].queryset = users
        if members is not None:
            self.fields["owner"].choices = [("", "Choose an owner")] + [
                (user.pk, user.display_name) for user in members
            ]


class ActionItemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=ActionItemStatus.choices, label="Status")


class CommentForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label="Comment", max_length=5000
    )
