"""Log-in limits count by user name and address together, and by address alone: no one far away can
lock the owner out by failing with the owner's user name."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase"
ATTACKER = "127.0.0.2"
OWNER = "127.0.0.3"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password=PASSWORD, is_staff=True)


def log_in(client, username, password, ip):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=ip,
    )


def test_failures_with_the_owner_s_name_from_one_address_do_not_lock_the_owner_out_at_another(client, owner):
    statuses = [log_in(client, "owner", "wrong password", ATTACKER).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    response = log_in(client, "owner", PASSWORD, OWNER)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_the_failing_address_stays_locked_out_even_with_the_right_password(client, owner):
    for _ in range(5):
        log_in(client, "owner", "wrong password", ATTACKER)
    assert log_in(client, "owner", PASSWORD, ATTACKER).status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_spray_over_many_user_names_from_one_address_is_locked_by_the_address(client, owner):
    statuses = [log_in(client, f"guess{n}", "wrong password", ATTACKER).status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    # A sixth name, never tried before, from the same address: still locked.
    assert log_in(client, "owner", PASSWORD, ATTACKER).status_code == 429
    assert log_in(client, "owner", PASSWORD, OWNER).status_code == 302


def test_the_owner_s_own_failures_at_their_address_lock_only_that_address(client, owner):
    for _ in range(5):
        log_in(client, "owner", "wrong password", OWNER)
    assert log_in(client, "owner", PASSWORD, OWNER).status_code == 429
    assert log_in(client, "owner", PASSWORD, "127.0.0.4").status_code == 302
