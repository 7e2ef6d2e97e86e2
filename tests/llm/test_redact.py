from enrich.agent.llm.redact import redact, redact_obj, register_secret


def test_key_shapes_are_redacted():
    text = (
        "key sk-abcdefghij0123456789 and Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload "
        'and {"api_key": "plainvalue123"}'
    )
    out = redact(text)
    assert "abcdefghij0123456789" not in out and "eyJhbGci" not in out and "plainvalue123" not in out
    assert out.count("[REDACTED]") == 3 and out.startswith("key [REDACTED] and Authorization")


def test_registered_literal_secrets_and_nested_structures():
    register_secret("hunter2-local-token")
    assert redact_obj([{"content": "use hunter2-local-token"}]) == [{"content": "use [REDACTED]"}]
    assert redact("nothing secret here") == "nothing secret here"
