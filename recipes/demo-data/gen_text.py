"""Write the demo's natural-language corpus: JSONL files of short prose written for this project.

One plain file and one gzipped file; the gzipped one carries a deliberately broken line, so the
demo shows a corrupt record being counted and skipped rather than stopping the build.

    python recipes/demo-data/gen_text.py   # rewrites recipes/demo-data/text/*.jsonl*
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "text"

ESSAYS = [
    (
        "river",
        "The river that runs through the old town was once the reason the town existed. Mills lined "
        "its banks, barges carried grain downstream, and every spring the water rose high enough to flood the "
        "lower streets. Today the mills are flats and the barges are gone, but people still walk along the "
        "towpath on Sunday mornings, and the flood marks are still painted on the church wall.",
    ),
    (
        "bread",
        "Baking bread at home needs less equipment than most people think. Flour, water, salt and "
        "yeast, a bowl and an oven are enough. The secret is time: a slow rise in a cool kitchen gives the "
        "dough flavour that no shortcut can match. Shape it gently, let it rest, and bake it hotter than feels "
        "comfortable.",
    ),
    (
        "orchestra",
        "Before a concert the orchestra tunes to a single note from the oboe. The sound spreads "
        "through the strings, then the brass, until the whole hall hums. It lasts only a minute, yet for many "
        "listeners it is the moment the evening truly begins.",
    ),
    (
        "migration",
        "Each autumn, swallows gather on the telephone wires at the edge of the village. For a few "
        "days they chatter and circle, and then one morning they are gone, flying thousands of kilometres south "
        "to spend the winter in warmer countries. Nobody taught them the route.",
    ),
    (
        "chess",
        "A chess club meets every Tuesday in the back room of the café. Beginners play next to "
        "veterans, and the rule is simple: after each game, the winner explains one move to the loser. Over a "
        "season that habit turns strangers into friends and novices into solid players.",
    ),
    (
        "lighthouse",
        "The lighthouse on the headland has been automatic for thirty years, but the keeper's "
        "cottage still stands beside it. Visitors climb the spiral staircase, count the steps, and look out "
        "over a sea that has wrecked more ships than anyone has recorded.",
    ),
    (
        "library",
        "Public libraries lend far more than books. They lend quiet, warmth, internet access, a place "
        "to meet, and help from people whose job is to find answers. In many towns they are the last indoor "
        "space where nobody expects you to buy anything.",
    ),
    (
        "mountain",
        "Climbing the mountain takes most of a day. The path starts in beech woods, crosses open "
        "pasture where cows wear bells, and ends on bare rock above the clouds. From the summit, on a clear "
        "day, you can see three countries and the lake where the journey began.",
    ),
    (
        "tea",
        "In the hills where the tea grows, pickers take only the top two leaves and a bud from each "
        "bush. The leaves are withered, rolled and dried within hours. A good picker can tell by touch whether "
        "a leaf is ready, a skill learned over many seasons.",
    ),
    (
        "bicycle",
        "Repairing a bicycle puncture is a small lesson in patience. Remove the wheel, lever off the "
        "tyre, find the hole by listening for the hiss, roughen the rubber, glue, wait, patch, and wait again. "
        "Rushing any step means doing all of them twice.",
    ),
    (
        "market",
        "On Saturday the square fills with stalls selling cheese, honey, bread and vegetables still "
        "covered in soil. Prices are written in chalk, and the stall holders know many of their customers by "
        "name. By two o'clock it is all packed away and the square is a car park again.",
    ),
    (
        "snow",
        "The first snow of the year changes the sound of the city. Traffic slows, footsteps soften, and "
        "children appear from every door with sledges that have waited in cellars since last winter. By evening "
        "the snow is grey slush, but the morning was worth it.",
    ),
    (
        "museum",
        "The small museum in the former railway station tells the history of the valley through "
        "everyday objects: a school desk, a miner's lamp, a wedding dress, a ration book. Each label is short, "
        "and each object has a family story behind it.",
    ),
    (
        "garden",
        "A community garden turned an empty lot into forty small plots. Neighbours who had never "
        "spoken now trade seedlings and advice, argue about slugs, and share the harvest at a long table every "
        "September.",
    ),
    (
        "radio",
        "Late at night, a local radio station plays records chosen by listeners who call in. Most "
        "requests come with a story: a first dance, a long drive, a friend who moved away. The host listens to "
        "every one before putting the needle down.",
    ),
    (
        "ferry",
        "The ferry crossing takes forty minutes in calm weather. Passengers drink coffee in the lounge "
        "or stand at the rail watching gulls follow the wake. Regulars can tell the season from the colour of "
        "the water.",
    ),
    (
        "volcano",
        "The island's volcano last erupted two centuries ago. Its slopes are now covered with "
        "vineyards, because the dark soil holds heat and grows grapes with a taste found nowhere else. Farmers "
        "accept the risk as the price of the soil.",
    ),
    (
        "clock",
        "The town hall clock loses a minute a week, and a volunteer climbs the tower every Sunday to "
        "set it right. He oils the gears, winds the weights and checks the time against his wristwatch, as his "
        "father did before him.",
    ),
    (
        "forest",
        "Walking in an old forest, you notice how much of it is dead wood: fallen trunks, standing "
        "snags, branches on the ground. That wood is not waste. Beetles, fungi, birds and small mammals depend "
        "on it, and it slowly returns to the soil.",
    ),
    (
        "letters",
        "Before telephones were common, families kept in touch through letters that took a week to "
        "arrive. People wrote carefully because paper and postage cost money. Some of those letters, kept in "
        "shoeboxes, are now the only record of ordinary lives.",
    ),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    records = [{"id": f"essay-{slug}", "text": text, "topic": slug} for slug, text in ESSAYS]
    half = len(records) // 2
    with open(OUT / "essays-a.jsonl", "w", encoding="utf-8") as f:
        for r in records[:half]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    lines = [json.dumps(r, ensure_ascii=False) for r in records[half:]]
    lines.insert(3, '{"id": "essay-broken", "text": "this line was cut off in transit')
    with (
        open(OUT / "essays-b.jsonl.gz", "wb") as fh,
        gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
