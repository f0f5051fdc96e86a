"""``data check``: one of each planted problem is found, one line each, non-zero exit."""
import numpy as np
from PIL import Image

from paddlecnn.cli import main
from paddlecnn.data import check_list


def planted(tmp_path):
    """A root with one problem of each kind; returns the list file."""
    root = tmp_path / "root"
    (root / "img").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c d.jpg"):
        Image.new("RGB", (16, 16), (200, 10, 10)).save(root / "img" / name)
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(root / "img" / "rgba.png")   # fine: converted
    Image.new("L", (16, 16), 7).save(root / "img" / "gray.png")                 # fine: converted
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "img" / "full.jpg")
    data = (root / "img" / "full.jpg").read_bytes()
    (root / "img" / "trunc.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(noise).save(root / "img" / "full.png")
    (root / "img" / "trunc.png").write_bytes((root / "img" / "full.png").read_bytes()[:-20])
    (root / "img" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "img" / "folder.jpg").mkdir()
    (tmp_path / "outside.jpg").write_bytes((root / "img" / "a.jpg").read_bytes())
    (root / "labels.txt").write_text("red\ngreen\nblue\nempty\n")
    lines = [
        "img/a.jpg 0",            # 1 ok
        "img/c d.jpg 1",          # 2 ok (space in path)
        "img/rgba.png 2",         # 3 ok
        "img/gray.png 1",         # 4 ok
        "img/trunc.jpg 0",        # 5 truncated JPEG
        "img/trunc.png 0",        # 6 truncated PNG
        "img/corrupt.jpg 1",      # 7 corrupt
        "img/missing.jpg 0",      # 8 missing file
        "img/b.jpg",              # 9 no label
        "img/b.jpg one",          # 10 non-integer label
        "img/b.jpg -2",           # 11 negative label
        "img/b.jpg 4",            # 12 label >= num_classes (labels.txt has 4 names)
        "img/a.jpg 0",            # 13 duplicate of line 1
        "../outside.jpg 0",       # 14 escapes the root
        "img/folder.jpg 2",       # 15 a folder, not a file
        "",                       # blank lines are fine
    ]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    return root / "train.txt"


EXPECTED = {  # line -> (path, words in the message)
    5: ("img/trunc.jpg", "truncated"),
    6: ("img/trunc.png", "truncated"),
    7: ("img/corrupt.jpg", "corrupt"),
    8: ("img/missing.jpg", "not found"),
    9: ("img/b.jpg", "no label"),
    10: ("img/b.jpg", "not an integer"),
    11: ("img/b.jpg", "negative"),
    12: ("img/b.jpg", "num_classes 4"),
    13: ("img/a.jpg", "duplicate"),
    14: ("../outside.jpg", "escapes the root"),
    15: ("img/folder.jpg", "is a folder"),
    0: ("empty", "class 3 (empty) has no images"),
}


def test_check_list_finds_every_planted_problem(tmp_path):
    problems = check_list(planted(tmp_path))
    found = {p.line: p for p in problems}
    assert len(problems) == len(EXPECTED) == len(found)
    for line, (path, words) in EXPECTED.items():
        assert found[line].path == path, line
        assert words in found[line].message, (line, found[line].message)


def test_check_cli_one_line_per_problem_and_nonzero_exit(tmp_path, capsys):
    lst = planted(tmp_path)
    assert main(["data", "check", str(lst)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"{len(EXPECTED)} problem(s) in {lst}"
    body = lines[:-1]
    assert len(body) == len(EXPECTED)
    for line, (path, words) in EXPECTED.items():
        prefix = f"{lst}, line {line}: {path}: " if line else f"{lst}: {path}: "
        assert any(b.startswith(prefix) and words in b for b in body), (line, body)


def test_check_num_classes_option_and_clean_list(tmp_path, capsys):
    lst = planted(tmp_path)
    root = lst.parent
    (root / "labels.txt").unlink()
    problems = check_list(lst, num_classes=2)
    assert any(p.line == 12 and "label 4 >= num_classes 2" in p.message for p in problems)
    assert any(p.line == 3 and "label 2 >= num_classes 2" in p.message for p in problems)
    (root / "clean.txt").write_text("img/a.jpg 0\nimg/c d.jpg 1\nimg/gray.png 1\n")
    assert check_list(root / "clean.txt") == []
    assert main(["data", "check", str(root / "clean.txt"), "--root", str(root)]) == 0
    assert "OK, 3 images, 2 classes, 1-2 images per class" in capsys.readouterr().out


def test_check_empty_and_missing_list_and_root(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n")
    assert [p.kind for p in check_list(tmp_path / "empty.txt")] == ["empty"]
    assert "not found" in check_list(tmp_path / "none.txt")[0].message
    assert "root folder not found" in check_list(tmp_path / "empty.txt", root=tmp_path / "no")[0].message
    assert main(["data", "check", str(tmp_path / "empty.txt")]) == 1
    assert "no entries" in capsys.readouterr().out
