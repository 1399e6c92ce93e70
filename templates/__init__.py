"""Page and agent-config templates, shipped in the wheel as `wikimem.templates`.

Each `*.md` file is a `string.Template`; the compiler fills its `${...}` fields. Edit the
wording here; the compiler owns what goes into each field.
"""
