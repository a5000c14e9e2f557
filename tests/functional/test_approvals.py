"""Data approval: approved values refuse every change, by every path."""

from __future__ import annotations

import json
import sys

import pytest

from sitroom.auth import service as auth
from sitroom.surveillance.approvals import approve, list_approvals, unapprove
from sitroom.surveillance.imports import Importer

PASSWORD = "amber-Kettle-91-harbour"


def _file(tmp_path, unit="KP-04", value="5", period="20220520", name="v.json"):
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "dataValues": [
                    {"dataElement": "new_fever", "period": period, "orgUnit": unit, "value": value}
                ]
            }
        ),
        encoding="utf-8",
    )
    return path


def test_an_approved_period_refuses_imports_until_un_approved(loaded, country, tmp_path):
    assert Importer(loaded, country, user="rex").run(_file(tmp_path)).ok
    done = approve(loaded, "KP", "2022-05-20", user="eve")
    assert (done.org_unit, done.period, done.active) == ("KP", "2022-05-20", True)
    # A region below the approved country: refused, with who and when.
    refused = Importer(loaded, country, user="rex").run(_file(tmp_path, value="6"))
    assert not refused.ok
    assert "approved by eve" in refused.rejections[0].reason
    # Another day is open.
    assert Importer(loaded, country, user="rex").run(_file(tmp_path, period="20220521")).ok
    with pytest.raises(Exception, match="already approved"):
        approve(loaded, "KP-04", "2022-05-20", user="eve")
    with pytest.raises(Exception, match="needs a reason"):
        unapprove(loaded, "KP", "2022-05-20", reason="  ", user="eve")
    ended = unapprove(loaded, "KP", "2022-05-20", reason="Chagang corrected its count", user="eve")
    assert not ended.active
    assert ended.revoke_reason == "Chagang corrected its count"
    assert Importer(loaded, country, user="rex").run(_file(tmp_path, value="6")).ok
    history = list_approvals(loaded, include_revoked=True)
    assert [a.active for a in history] == [False]
    assert list_approvals(loaded) == []


def test_approving_needs_the_permission_in_scope(loaded):
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP-04"], password=PASSWORD, actor="t"
    )
    loaded.commit()
    with pytest.raises(Exception, match=r"data\.approve"):
        approve(
            loaded, "KP-04", "2022-05-20", user="rex", principal=auth.principal_for(loaded, "rex")
        )
    eve = auth.principal_for(loaded, "eve")
    with pytest.raises(Exception, match=r"KP-03|scope"):
        approve(loaded, "KP-03", "2022-05-20", user="eve", principal=eve)
    assert approve(loaded, "KP-04", "2022-05-20", user="eve", principal=eve).active


def test_the_command_line(cli, loaded, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", sys.stdin)
    assert cli("import", str(_file(tmp_path))).code == 0
    done = cli("approve", "KP-04", "2022-05-20")
    assert done.code == 0, done.err
    assert "approved 2022-05-20 of KP-04" in done.out
    refused = cli("import", str(_file(tmp_path, value="9")))
    assert refused.code == 1
    assert "approved by" in refused.err
    listed = json.loads(cli("approvals", "--json").out)
    assert [(a["org_unit"], a["period"]) for a in listed] == [("KP-04", "2022-05-20")]
    no_reason = cli("unapprove", "KP-04", "2022-05-20")
    assert no_reason.code != 0
    assert "--reason" in no_reason.err
    assert cli("unapprove", "KP-04", "2022-05-20", "--reason", "typo").code == 0
    assert cli("import", str(_file(tmp_path, value="9"))).code == 0
    assert "typo" in cli("approvals", "--all").out
