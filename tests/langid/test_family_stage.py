"""The second stage of content-only language ID: it decides within a family, never across one,
and never touches a decision that a file name leaves to linguist's heuristics."""

from __future__ import annotations

import pytest

from classifiers.langid import detect
from classifiers.langid.families import FAMILIES, family_labels, family_of
from classifiers.langid.family_model import load_family_model
from classifiers.langid.model import load_model
from classifiers.langid.rules import load_table
from classifiers.langid.training import (
    CorpusStats,
    family_config,
    labelled_files,
    train_model,
    training_lines,
)
from tests.langid.conftest import real_code_files

# written for this test: members of the Ruby and script families
ELIXIR = b"""defmodule Inventory.Stock do
  @moduledoc false
  alias Inventory.Item

  def restock(%Item{count: count} = item, amount) when amount > 0 do
    %{item | count: count + amount}
  end

  def names(items) do
    items
    |> Enum.filter(fn %Item{count: c} -> c > 0 end)
    |> Enum.map(& &1.name)
  end
end
"""


def test_every_member_is_listed_and_in_one_family() -> None:
    table = load_table()
    seen: list[str] = [m for members in FAMILIES.values() for m in members]
    assert len(seen) == len(set(seen)), "a language is in one family at most"
    assert all(table.in_list(m) for m in seen), [m for m in seen if not table.in_list(m)]


def test_the_shipped_family_model_knows_only_family_members() -> None:
    fam = load_family_model()
    assert fam is not None
    assert set(fam.labels) <= family_labels()
    assert len(fam.labels) >= 30


@pytest.fixture(scope="module")
def real_files() -> list[tuple[str, bytes]]:
    return list(real_code_files())


def test_on_real_code_the_second_stage_stays_within_the_family(real_files: list[tuple[str, bytes]]) -> None:
    fam = load_family_model()
    changed = 0
    for _name, content in real_files[::3]:
        one = detect("", content, family=None)
        two = detect("", content, family=fam)
        first = one.language or one.label
        second = two.language or two.label
        if first is None or family_of(first) is None:
            assert (two.language, two.label, two.how) == (one.language, one.label, one.how)
            continue
        if second is not None:
            assert family_of(second) == family_of(first), (first, second)
        changed += first != second
    assert changed < len(real_files[::3]) // 4


def test_names_given_leave_the_heuristics_and_first_stage_to_decide(
    real_files: list[tuple[str, bytes]],
) -> None:
    table = load_table()
    fam = load_family_model()
    for name, content in real_files:
        cands = table.by_name(name.rsplit("/", 1)[-1])[0]
        if len(cands) > 1:
            assert detect(name, content, family=fam) == detect(name, content, family=None), name


RUBY = b"""module Shelf
  class Item
    attr_reader :name, :count

    def initialize(name, count = 0)
      @name = name
      @count = count
    end

    def restock(amount)
      raise ArgumentError, "amount must be positive" unless amount.positive?
      @count += amount
      self
    end
  end
end
"""

TYPESCRIPT = b"""export interface Item {
  name: string;
  count: number;
}

export function restock(item: Item, amount: number): Item {
  if (amount <= 0) {
    throw new Error("amount must be positive");
  }
  return { ...item, count: item.count + amount };
}
"""


@pytest.mark.parametrize(
    ("content", "language"), [(ELIXIR, "Elixir"), (RUBY, "Ruby"), (TYPESCRIPT, "TypeScript")]
)
def test_family_members_keep_their_language_through_both_stages(content: bytes, language: str) -> None:
    one = detect("", content, family=None)
    two = detect("", content)
    assert one.language == two.language == language, (one, two)
    assert 0.5 <= two.confidence <= 1.0


def test_decide_keeps_an_unknown_members_share_and_the_family_mass() -> None:
    fam = load_family_model()
    model = load_model()
    assert fam is not None and model is not None
    text = ELIXIR.decode()
    stage1 = {"Ruby": 0.5, "Crystal": 0.2, "Elixir": 0.1, "Python": 0.2}
    label, conf = fam.decide(stage1, text)
    assert label in FAMILIES["ruby"]
    assert conf <= 0.8 + 1e-9  # never more than the first stage's mass on the family
    assert fam.decide({"Python": 0.9, "Ruby": 0.1}, text) is None  # the best label has no family
    # the first stage alone (weight 1) keeps its own order within the family
    assert fam.decide(stage1, text, weight=1.0)[0] == "Ruby"


@pytest.mark.slow
def test_family_training_is_deterministic_and_keeps_to_members(tmp_path) -> None:
    root = tmp_path / "corpus"
    for lang, ext, body in (
        ("ruby", "rb", b"class Shelf\n  def initialize(items)\n    @items = items\n  end\nend\n"),
        ("elixir", "ex", ELIXIR),
        ("python", "py", b"def shelf(items):\n    return [i for i in items if i]\n"),
    ):
        for i in range(4):
            p = root / lang / f"f{i}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(body.replace(b"items", f"items{i}".encode()))
    cfg = family_config(epoch=5, dim=8, bucket=10_000, min_count=1, cutoff=5_000, min_family_files=2)
    by_label = labelled_files([root], folder_labels=False, cfg=cfg, stats=CorpusStats())
    lines = training_lines(by_label, cfg, CorpusStats())
    assert {ln.split(" ", 1)[0] for ln in lines} == {
        "__label__Ruby",
        "__label__Elixir",
    }  # Python has no family
    a = train_model(lines, tmp_path / "a.ftz", cfg)
    b = train_model(training_lines(by_label, cfg, CorpusStats()), tmp_path / "b.ftz", cfg)
    assert a.read_bytes() == b.read_bytes()
