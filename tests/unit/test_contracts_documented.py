import json
from pathlib import Path

from shared.messages import json_schemas

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_wire_contract_is_published_as_json_schema_and_in_asyncapi():
    asyncapi = (DOCS / "asyncapi.yaml").read_text()
    for type_, schema in json_schemas().items():
        published = json.loads((DOCS / "schemas" / f"{type_}.json").read_text())
        assert published == {"$id": type_, **schema}, f"run python -m shared.messages ({type_})"
        assert f"name: {type_}" in asyncapi
