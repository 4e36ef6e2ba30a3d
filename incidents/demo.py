def seed(*, team, users):
    """The seed document's incident is added by the incidents timeline work."""
    return None
