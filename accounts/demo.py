from accounts.models import User

DEMO_PASSWORD = "vigil-demo"  # noqa: S105 - stated in the README; demo only, never production

# username: (first name, last name, role in the demo team, time zone)
DEMO_PEOPLE = {
    "alex": ("Alex", "Rivera", "responder", "Europe/Berlin"),
    "jordan": ("Jordan", "Lee", "responder", "America/New_York"),
    "riley": ("Riley", "Chen", "responder", "UTC"),
    "sam": ("Sam", "Okafor", "manager", "Europe/London"),
    "casey": ("Casey", "Novak", "viewer", "UTC"),
    "admin": ("Ada", "Admin", "admin", "UTC"),
}


def seed() -> dict[str, User]:
    users = {}
    for username, (first, last, role, tz) in DEMO_PEOPLE.items():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "time_zone": tz,
                "email": f"{username}@vigil.example",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
        if role == "admin":
            user.is_staff = user.is_superuser = True
        user.save()
        user.demo_role = role
        users[username] = user
    return users
