"""`cartconnect-dev sam-env` on a running stack: the --env-vars file `make sam-local` gives sam local."""

from __future__ import annotations

import json

from dev_process import ROOT, running_dev_stack


def test_a_variable_the_template_adds_reaches_the_sam_env_file_without_edits(tmp_path):
    template = (ROOT / "template.yaml").read_text()
    marker = "        TABLE_NAME: !Ref Table\n"
    assert marker in template
    root = tmp_path / "root"
    root.mkdir()
    (root / "template.yaml").write_text(
        template.replace(
            marker, marker + '        ADDED_BY_A_LATER_CHANGE: !Sub "${AWS::StackName}/added/"\n', 1
        )
    )
    with running_dev_stack(root) as stack:
        result = stack.cli("sam-env", "--public-base-url", "http://127.0.0.1:3001")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {
        "ManagementFunction",
        "AuthorizeFunction",
        "CallbackFunction",
        "RefreshSchedulerFunction",
        "RefreshWorkerFunction",
        "StoreProxyFunction",
    }
    for variables in document.values():
        assert variables["ADDED_BY_A_LATER_CHANGE"] == "cartconnect-local/added/"
        assert variables["SECRET_PREFIX"] == "cartconnect/cartconnect-local/iclients/"
        assert variables["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert variables["PUBLIC_BASE_URL"] == "http://127.0.0.1:3001"
        assert variables["CARTCONNECT_INSECURE_STORE_HOSTS"].startswith("127.0.0.1:")
