"""API keys against the real server: ``MEMORY_API_KEYS=admin-key,acme-key:acme``."""

from __future__ import annotations

import pytest

import memory_layer as ml


def test_no_key_or_a_wrong_key_is_unauthorized(auth_server) -> None:
    with ml.MemoryClient(auth_server.base_url) as anonymous:
        assert anonymous.health().ok  # health is open
        with pytest.raises(ml.Unauthorized) as info:
            anonymous.add("acme", "c1", "user", "hello")
        assert (info.value.status, info.value.code) == (401, "unauthorized")
    with ml.MemoryClient(auth_server.base_url, api_key="wrong-key") as wrong:
        with pytest.raises(ml.Unauthorized):
            wrong.search("acme", "hello")


def test_a_tenant_bound_key_stays_in_its_tenant(auth_server) -> None:
    with (
        ml.MemoryClient(auth_server.base_url, api_key="admin-key") as admin,
        ml.MemoryClient(auth_server.base_url, api_key="acme-key") as acme,
    ):
        own = acme.add("acme", "c1", "user", "an acme memory")
        assert acme.get(own.id).content == "an acme memory"

        with pytest.raises(ml.Forbidden) as info:
            acme.add("globex", "c1", "user", "not mine to write")
        assert (info.value.status, info.value.code) == (403, "forbidden")
        with pytest.raises(ml.Forbidden):
            acme.search("globex", "anything")

        theirs = admin.add("globex", "c1", "user", "a globex secret")
        with pytest.raises(ml.NotFound):  # exactly as for an unknown id
            acme.get(theirs.id)
        with pytest.raises(ml.NotFound):
            acme.delete(theirs.id)
        assert admin.get(theirs.id).content == "a globex secret"

        with pytest.raises(ml.Forbidden):  # erasure is for admin keys
            acme.delete_all("acme")
        assert admin.delete_all("globex").deleted == 1

        history = acme.history(acme.update(own.id, content="an acme memory, edited").id)
        assert history[0].actor.startswith("key:")


def test_tenants_conversations_and_the_retention_preview(auth_server) -> None:
    with (
        ml.MemoryClient(auth_server.base_url, api_key="admin-key") as admin,
        ml.MemoryClient(auth_server.base_url, api_key="acme-key") as acme,
    ):
        admin.add("acme", "py-conv-1", "user", "my dog is called Rex")
        admin.add("acme", "py-conv-2", "user", "my cat is called Miso")
        admin.add("globex", "g1", "user", "a globex note")
        everyone = admin.tenants()
        assert everyone["admin"] is True
        assert {"acme", "globex"} <= set(everyone["tenants"])
        assert acme.tenants() == {"admin": False, "tenants": ["acme"]}
        first = acme.conversations("acme", page_size=1)
        assert first["conversations"][0]["conversation_id"] == "py-conv-2"
        second = acme.conversations("acme", page_size=1, cursor=first["next_cursor"])
        assert second["conversations"][0]["conversation_id"] != "py-conv-2"
        with pytest.raises(ml.Forbidden):
            acme.conversations("globex")
        preview = acme.retention_preview("acme", sample=3)
        assert preview["policy"]["max_age_days"] == 30
        assert len(preview["archive"]["sample"]) <= 3
