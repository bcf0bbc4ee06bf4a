"""The test-side bicep reader on the forms it claims to understand."""

import pytest
from bicep_reader import BicepReadError, read_bicep

SAMPLE = """
@secure()
param key string = ''  // a comment with { a brace
param size int = 2
param names array

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: 'acct${size}'
}

resource files 'Microsoft.Storage/storageAccounts/fileServices@2025-01-01' = if (size > 1) {
  parent: account
  name: 'default'
  properties: {
    name: 'not-the-resource-name'
    list: [
      { name: 'nested' }
    ]
  }
}

output URL string = 'https://example.invalid/{x}' // not a block
"""


def test_reader_returns_params_with_secure_types_and_default_text():
    template = read_bicep(SAMPLE)
    assert {name: (p.type, p.default) for name, p in template.params.items()} == {
        "key": ("securestring", "''"), "size": ("int", "2"), "names": ("array", None),
    }


def test_reader_returns_resources_with_parent_chain_names_and_existing_flag():
    template = read_bicep(SAMPLE)
    account, files = template.resources
    assert (account.symbol, account.type, account.api_version, account.existing) == (
        "account", "Microsoft.Storage/storageAccounts", "2025-01-01", True,
    )
    assert (files.type, files.name_segments, files.existing) == (
        "Microsoft.Storage/storageAccounts/fileServices", ("'acct${size}'", "'default'"), False,
    )


def test_reader_returns_outputs_with_types():
    assert read_bicep(SAMPLE).outputs == {"URL": "string"}


@pytest.mark.parametrize(
    "text",
    ["param tags object = {\n  a: 'b'\n}\n", "resource x 'T@1' = [for i in range(0, 2): {\n}]\n",
     "resource x 'A/b@1' = {\n  name: 'x'\n"],
)
def test_reader_refuses_what_it_does_not_understand(text):
    with pytest.raises(BicepReadError):
        read_bicep(text)
