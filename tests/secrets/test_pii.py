"""E-mail and IP redaction on a labelled sample of real-looking lines (docs, code, logs, configs):
precision and recall printed, and the documentation values that must stay."""

from __future__ import annotations

from classifiers.secrets.pii import find_emails, find_ips

# (line, the addresses in it that must be redacted)
EMAIL_LINES = [
    ("Maintainer: Jane Doe <jane.doe@acme-corp.io>", ["jane.doe@acme-corp.io"]),
    ("# Author: robert.kern@gmail.com (original port)", ["robert.kern@gmail.com"]),
    ("Signed-off-by: Li Wei <li.wei+kernel@huawei.com>", ["li.wei+kernel@huawei.com"]),
    ('AUTHOR_EMAIL = "ops-team@bigbank.co.uk"', ["ops-team@bigbank.co.uk"]),
    (
        "Please report bugs to bugs@project.dev or security@project.dev.",
        ["bugs@project.dev", "security@project.dev"],
    ),
    ("2024-03-01 12:00:01 INFO login ok user=m.rossi@unimi.it ip=151.12.4.77", ["m.rossi@unimi.it"]),
    ("  email: 'karl_h@web.de'", ["karl_h@web.de"]),
    ('{"name": "Ana", "mail": "ANA.SILVA@EMPRESA.COM.BR"}', ["ANA.SILVA@EMPRESA.COM.BR"]),
    ("contact: j@x.ai", ["j@x.ai"]),
    ("mailto:first.last@university.edu?subject=Hi", ["first.last@university.edu"]),
    ("From: noreply@github.com", []),
    ("Co-authored-by: octocat <583231+octocat@users.noreply.github.com>", []),
    ("See user@example.com and admin@mail.example.org for the format.", []),
    ("y = x@w.T + b  # matrix product", []),
    ("out = q@k.transpose(-2, -1)", []),
    ("<img src='icons/logo@2x.png'>", []),
    ("npm install left-pad@1.3.0 lodash@4.17.21", []),
    ("@dataclass\nclass Config:", []),
    ("s = f'{user}@{host}.com'", []),
    ("ssh git@github.com:org/repo.git", ["git@github.com"]),
    ('printf("\\n@triton.jit\\n")', []),
    ("Mail me at tester@test.test or no-reply@service.com", []),
]

IP_LINES = [
    ("Connecting to 8.8.8.8:53", ["8.8.8.8"]),
    ("2024-03-01 12:00:01 GET /index.html from 151.12.4.77 200", ["151.12.4.77"]),
    ("server: 34.117.59.81", ["34.117.59.81"]),
    ("allow 2606:4700:4700::1111;", ["2606:4700:4700::1111"]),
    ("peers = ['52.95.110.1', '13.248.118.1']", ["52.95.110.1", "13.248.118.1"]),
    ("bind 0.0.0.0:8080 and 127.0.0.1", []),
    ("LAN: 192.168.1.10, 10.2.3.4, 172.20.0.5", []),
    ("Documentation range 192.0.2.1, 198.51.100.23, 203.0.113.5, 2001:db8::42", []),
    ("netmask 255.255.255.255 broadcast", []),
    ('__version__ = "1.2.3.4"', []),
    ("Requires version 2.11.3.1 of the driver, v4.3.2.1 works too", []),
    ("OID 1.3.6.1.4.1.311.21.7", []),
    ("torch==2.1.0.post1 numpy>=1.26.4.0", []),
    ("std::vector<int> v; a::b::c(); x = 3.14159;", []),
    ("timestamp 12:34:56.789", []),
    ("multicast group 239.255.255.250", []),
]


def _score(lines, finder) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for line, want in lines:
        got = [line[f.start : f.end] for f in finder(line)]
        tp += sum(1 for g in got if g in want)
        fp += sum(1 for g in got if g not in want)
        fn += sum(1 for w in want if w not in got)
    return tp, fp, fn


def _report(name: str, tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\n{name}: precision {precision:.1%}, recall {recall:.1%} (tp {tp}, fp {fp}, fn {fn})")
    return precision, recall


def test_email_precision_and_recall():
    precision, recall = _report("e-mail", *_score(EMAIL_LINES, find_emails))
    assert precision >= 0.95 and recall >= 0.9


def test_ip_precision_and_recall():
    precision, recall = _report("IP address", *_score(IP_LINES, find_ips))
    assert precision >= 0.95 and recall >= 0.9
