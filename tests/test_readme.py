"""The README's "library in five lines" runs as printed: a new user's first contact with the
library."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_five_lines_run_and_agree_with_the_loose_functions() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The library in five lines") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's five-lines section has no python block"
    namespace: dict = {}
    exec(
        compile(code.group(1), str(README), "exec"), namespace
    )  # its own assert compares arch.ntk and ntk
    theta, theta_n, flow = namespace["theta"], namespace["theta_n"], namespace["flow"]
    assert theta.shape == theta_n.shape == (512, 512)
    # At width 1024 the empirical NTK is within a few per cent of the limit on the diagonal
    # (Thm. 1).
    ratio = (theta_n.double().diagonal() / theta.diagonal()).mean()
    assert 0.9 < float(ratio) < 1.1
    assert flow is not None
