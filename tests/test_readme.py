"""The README's "library in five lines" runs as printed: a new user's first contact with the
library."""

import math
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
    # Theorem 1 at width n = 1024 and depth L = 5, for the one network the README draws: its
    # diagonal fluctuates around the limit with a relative spread of about sqrt(exp(5 L / n) - 1)
    # = 0.16 (Hanin & Nica 2020; networks of seeds 0-3 gave 0.89, 1.01, 1.03, 0.95). Within 3 of
    # those spreads; the standard parametrisation's kernel (larger by a factor of order n) or a
    # kernel missing a layer's contribution would be far outside.
    ratio = float((theta_n.double().diagonal() / theta.diagonal()).mean())
    spread = math.sqrt(math.exp(5 * 5 / 1024) - 1)
    assert abs(ratio - 1) < 3 * spread, (ratio, spread)
    assert flow is not None
