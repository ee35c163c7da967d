"""CSV lead files: encodings, header checks, line numbers, blank rows and the row limit."""

import pytest

from api.leads.csv_rows import CsvFileError, decode, read_rows


def test_excel_bom_and_gb18030_are_read() -> None:
    assert decode("\ufeffname\n王芳\n".encode()) == "name\n王芳\n"
    assert decode("name\n王芳\n".encode("gb18030")) == "name\n王芳\n"


def test_line_numbers_count_the_header_blank_lines_and_quoted_newlines() -> None:
    text = 'name,notes\n王芳,"two\nlines"\n,\n李雷,ok\n'
    rows = read_rows(text, max_rows=10)
    assert [(row.line, row.fields.get("name")) for row in rows] == [(3, "王芳"), (5, "李雷")]
    assert rows[0].fields["notes"] == "two\nlines"


def test_blank_cells_are_absent_and_coordinates_become_a_location() -> None:
    [row] = read_rows(" phone , lon ,lat,email\n 139 ,121.5,31.2, \n", max_rows=10)
    assert row.fields == {"phone": "139", "location": ["121.5", "31.2"]}
    [half] = read_rows("phone,lon\n139,121.5\n", max_rows=10)
    assert half.fields["location"] == ["121.5", None]  # then refused as an invalid location


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("name,colour\nx,red\n", "unknown columns \\['colour'\\]"),
        ("phone\n1\n2\n3\n", "more than 2 rows"),
    ],
)
def test_file_problems(text: str, message: str) -> None:
    with pytest.raises(CsvFileError, match=message):
        read_rows(text, max_rows=2)


def test_undecodable_bytes_are_refused() -> None:
    with pytest.raises(CsvFileError, match="neither UTF-8 nor GB18030"):
        decode(b"\xff\xfe\x00\xd8\x00")
