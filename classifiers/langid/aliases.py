"""How the 338 names of the DeepSeek-Coder-V2 language list join the rule sources.

Most names are GitHub linguist language names (matched exactly or case-insensitively), and most of
the rest are Pygments lexer names; the generator joins those automatically. This table covers the
names that neither project uses today, and the places where the paper lists two names for what
linguist treats as one language (Jade/Pug, Bro/Zeek, NASM/Assembly, ...): there the old or narrower
name claims the file extensions that mark it, so both names stay reachable from a file name.

Keys of an entry:
  linguist     linguist languages whose rules feed this name
  pygments     Pygments lexers whose file-name patterns feed this name
  extensions   extensions this name claims from whichever language linguist gives them to
  filenames    exact file names this name claims
  modelines    extra editor-mode names (Emacs ``mode:``/Vim ``ft=``) that select this name
  no_pygments  do not take the Pygments patterns of a lexer matched by name (they collide)
"""

from __future__ import annotations

from typing import Any

ALIASES: dict[str, dict[str, Any]] = {
    "AMD GPU": {"pygments": ["AMDGPU"]},
    "ASP": {"linguist": ["Classic ASP", "ASP.NET"]},
    "Apache Configuration": {"linguist": ["ApacheConf"]},
    "Arduino": {"extensions": [".ino"], "pygments": ["Arduino"]},
    "BST": {"linguist": ["BibTeX Style"]},
    "Bro": {"extensions": [".bro"], "modelines": ["bro"]},
    "Debian Control File": {"linguist": ["Debian Package Control File"], "filenames": ["control"]},
    "Docker": {"extensions": [".docker"], "modelines": ["docker"], "no_pygments": True},
    "Fortran": {"linguist": ["Fortran Free Form"], "pygments": ["Fortran"]},
    "Fortran Fixed Form": {"linguist": ["Fortran"], "pygments": ["FortranFixed"]},
    "FoxPro": {"pygments": ["FoxPro"], "modelines": ["foxpro", "vfp"]},
    "Graphviz DOT": {"linguist": ["Graphviz (DOT)"]},
    "Groff": {"linguist": ["Roff", "Roff Manpage"]},
    "HTML Django": {"linguist": ["Jinja"], "pygments": ["HTML+Django/Jinja"]},
    "HTML ERB": {"linguist": ["HTML+ERB"]},
    "HTML PHP": {"linguist": ["HTML+PHP"]},
    "JSX": {"extensions": [".jsx"], "pygments": ["JSX"]},
    "JavaScript MozPreproc": {"pygments": ["Javascript+mozpreproc"]},
    "Jade": {"extensions": [".jade"], "modelines": ["jade"]},
    "MQL": {"linguist": ["MQL4", "MQL5"]},
    "Mizar": {"extensions": [".miz", ".voc"], "modelines": ["mizar"]},
    "NASM": {"extensions": [".nasm", ".nas"], "modelines": ["nasm"]},
    "Nimrod": {"linguist": ["Nim"]},
    "Octave": {"pygments": ["Octave"], "modelines": ["octave"]},
    "Perl 6": {"linguist": ["Raku"]},
    "PkgConfig": {"linguist": ["pkg-config"]},
    "RHTML": {"extensions": [".rhtml"], "modelines": ["rhtml"]},
    "Ragel in Ruby Host": {"linguist": ["Ragel"]},
    "Rd": {"extensions": [".rd"]},
    "ReasonML": {"linguist": ["Reason"]},
    "Robot Framework": {"linguist": ["RobotFramework"]},
    "S": {"no_pygments": True, "modelines": ["s", "splus"]},
    "Transact-SQL": {"linguist": ["TSQL"]},
    "Visual Basic": {"linguist": ["Visual Basic .NET", "Visual Basic 6.0", "VBA"]},
    "Web IDL": {"linguist": ["WebIDL"]},
    "XML Lasso": {"linguist": ["Lasso"]},
}
