"""File extensions that real repositories use for listed languages and that neither linguist nor
Pygments (the sources of ``data/languages.json``) map to one of them.

Without an entry such a file has no name rule at all, and the content model alone decides it,
from a few kilobytes of code in a language it may have seen little of: a MIPS assembler file
named ``.mips`` came out as Terminfo. Each entry here is merged into the table when it is loaded
(``rules.load_table``) and only where the generated table knows nothing of the extension, so
linguist's and Pygments' rules always win; a regenerated table that learns an extension makes
its entry here inert.

Every entry names the convention it comes from:

- ``.mips``: MIPS assembly in GNU as / SPIM syntax (``.text``, ``.globl``, ``$a0``); the
  extension of Pygments' MIPS lexer, a language linguist does not have.
- ``.sx``: GCC's suffix for assembly that goes through the C preprocessor first, the same as
  ``.S`` (``gcc -x assembler-with-cpp``).
- ``.tasm``: Turbo Assembler sources (Intel syntax, ``.model``, ``proc``/``endp``).
- ``.comp``, ``.rgen``, ``.rint``, ``.rahit``, ``.rcall``: the shader stages that glslang and the
  Vulkan SDK name by suffix (compute, ray generation, intersection, any-hit, callable) beside the
  ``.vert``/``.frag``/``.rchit``/``.rmiss`` linguist already maps to GLSL.
- ``.js.flow``: Flow's declaration files that npm packages ship next to their ``.js`` files
  (``index.js.flow``): JavaScript with type annotations.
- ``.xa`` ... ``.xwe``: the linker scripts GNU ld generates for each link mode and installs
  (``ldscripts/elf_x86_64.xe``: ``-z separate-code``, ``.xbn`` ``-N``, ``.xr`` ``-r``...), which
  toolchain and SDK trees carry; linguist maps only ``.x``, ``.ld`` and ``.lds``. ``.xc``, ``.xs``
  and ``.xdc`` are left to XC, XS and Tcl, which linguist gives them.
"""

from __future__ import annotations

#: the binutils emulation-script suffixes other than ``.x``, ``.xc``, ``.xs`` and ``.xdc``
_LD_SCRIPT_SUFFIXES = [
    "xa",
    "xbn",
    "xce",
    "xd",
    "xdce",
    "xde",
    "xdw",
    "xdwe",
    "xe",
    "xn",
    "xr",
    "xsc",
    "xsce",
    "xse",
    "xsw",
    "xswe",
    "xu",
    "xw",
    "xwe",
]

#: extension (lower case, with its dot) -> candidate languages, in the form of the generated table
EXTRA_EXTENSIONS: dict[str, tuple[str, ...]] = {
    ".mips": ("GAS",),
    ".sx": ("GAS",),
    ".tasm": ("Assembly",),
    ".comp": ("GLSL",),
    ".rgen": ("GLSL",),
    ".rint": ("GLSL",),
    ".rahit": ("GLSL",),
    ".rcall": ("GLSL",),
    ".js.flow": ("JavaScript",),
    **{f".{suffix}": ("Linker Script",) for suffix in _LD_SCRIPT_SUFFIXES},
}
