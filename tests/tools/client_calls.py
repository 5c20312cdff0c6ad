"""Calls the example product through a Python client that openapi-python-client generated
from the served document (tests/tools/openapi.sh): a 200 and a 400 field error, each read
through the generated types. Usage: client_calls.py GENERATED_DIR BASE_URL."""

import sys

sys.path.insert(0, sys.argv[1])

from client import Client  # noqa: E402
from client.api.default import v0_notes_create  # noqa: E402
from client.models import (  # noqa: E402
    FieldError,
    FieldErrorErrorState,
    V0NotesCreateNewNote,
    V0NotesCreateNote,
)

api = Client(base_url=sys.argv[2], raise_on_unexpected_status=True)

answer = v0_notes_create.sync_detailed(
    client=api, body=V0NotesCreateNewNote(title="From the generated client", tags=["py"])
)
assert answer.status_code == 200, answer
note = answer.parsed
assert isinstance(note, V0NotesCreateNote), note
assert note.title == "From the generated client" and note.tags == ["py"], note
assert note.priority == "normal" and note.id >= 1, note

answer = v0_notes_create.sync_detailed(client=api, body=V0NotesCreateNewNote(title="x" * 101))
assert answer.status_code == 400, answer
error = answer.parsed
assert isinstance(error, FieldError), error
assert error.error.field == "title", error
assert error.error.state == FieldErrorErrorState.INVALID, error
assert isinstance(error.error.explain, str) and error.error.explain, error

print("generated client: 200 and 400 field error read through the generated types")
