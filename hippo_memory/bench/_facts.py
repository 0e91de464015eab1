"""Templated facts with several genuinely different phrasings, for synthetic benchmarks.

Every attribute has statement phrasings (how a memory is written or paraphrased)
and question phrasings (how it is later asked for, without the value). Phrasings
differ in wording and structure, not by noise, so recall from a held-out phrasing
measures paraphrase robustness of the encoder plus the memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["ATTRIBUTES", "Fact", "make_facts"]

FIRST = """Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Isabella James Ava William Mia Benjamin
Charlotte Lucas Harper Henry Evelyn Theodore Luna Jack Camila Levi Gianna Alexander Elizabeth
Jackson Eleanor Mateo Ella Daniel Abigail Michael Sofia Mason Avery Sebastian Scarlett Ethan
Emily Logan Aria Owen Penelope Samuel Chloe Jacob Layla Asher Mila Aiden Nora John Hazel Joseph
Madison Wyatt Ellie David Lily Leo Nova Luke Isla Julian Grace Hudson Violet Grayson Aurora
Matthew Riley Ezra Zoey Gabriel Willow Carter Emilia Isaac Stella Jayden Zoe Luca Victoria
Anthony Hannah Dylan Addison Lincoln Leah Thomas Lucy Maverick Eliana Elias Ivy Josiah Everly
Charles Lillian Caleb Paisley Christopher Elena Ezekiel Naomi Miles Maya Jaxon Natalia Isaiah
Valentina Andrew Delilah Joshua Ariana Nathan Kinsley Nolan Allison Adrian Gabriella Cameron
Alice Santiago Madelyn Eli Cora Aaron Ruby Ryan Eva Angel Serenity Cooper Autumn Waylon Adeline
Jordan Hailey Kai Gianna Roman Valeria Easton Jade Jonathan Quinn Axel Claire Jeremiah Sadie
Colton Piper Greyson Lydia Brooks Josephine Hunter Eden Robert Athena Amir Margaret Parker Iris
Xavier Lyla Adam Arabella Declan Everleigh Harrison Daisy Jason Brielle Rowan Kaylee Silas""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham
Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar
Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy
Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter
Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson
Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols""".split()


@dataclass(frozen=True)
class Attribute:
    """A kind of fact: values, statement phrasings and question phrasings."""

    name: str
    values: tuple[str, ...]
    statements: tuple[str, ...]
    questions: tuple[str, ...]


def _a(name: str, values: str, statements: list[str], questions: list[str]) -> Attribute:
    return Attribute(name, tuple(v.strip() for v in values.split(",")), tuple(statements), tuple(questions))


ATTRIBUTES: tuple[Attribute, ...] = (
    _a(
        "colour",
        "blue, green, crimson, yellow, purple, orange, teal, black, white, silver",
        [
            "{p}'s favourite colour is {v}.",
            "The colour {p} likes best is {v}.",
            "If you ask {p}, {v} beats every other colour.",
            "{p} would paint everything {v} given the chance.",
        ],
        ["What is {p}'s favourite colour?", "Which colour does {p} like most?"],
    ),
    _a(
        "city",
        "Lisbon, Osaka, Toronto, Nairobi, Oslo, Denver, Krakow, Lima, Hanoi, Adelaide",
        [
            "{p} lives in {v}.",
            "{p}'s home is in the city of {v}.",
            "These days {p} resides in {v}.",
            "You can find {p} living in {v}.",
        ],
        ["Where does {p} live?", "Which city is {p}'s home?"],
    ),
    _a(
        "job",
        "nurse, architect, baker, pilot, accountant, carpenter, teacher, chemist, lawyer, plumber",
        [
            "{p} works as a {v}.",
            "{p}'s job is being a {v}.",
            "By profession, {p} is a {v}.",
            "{p} earns a living as a {v}.",
        ],
        ["What does {p} do for work?", "What is {p}'s profession?"],
    ),
    _a(
        "pet",
        "dog, cat, parrot, hamster, tortoise, rabbit, goldfish, ferret, iguana, horse",
        [
            "{p} has a pet {v}.",
            "{p} owns a {v} as a pet.",
            "At home, {p} looks after a {v}.",
            "{p}'s animal companion is a {v}.",
        ],
        ["What pet does {p} have?", "Which animal does {p} keep at home?"],
    ),
    _a(
        "sport",
        "tennis, rugby, swimming, chess, cycling, climbing, rowing, fencing, golf, surfing",
        [
            "{p} does {v} every weekend.",
            "{p}'s favourite sport is {v}.",
            "On weekends {p} spends hours on {v}.",
            "{p} is passionate about {v}.",
        ],
        ["Which sport does {p} enjoy?", "What does {p} do on weekends for sport?"],
    ),
    _a(
        "food",
        "sushi, lasagna, tacos, curry, paella, dumplings, falafel, risotto, pho, ramen",
        [
            "{p}'s favourite food is {v}.",
            "{p} could eat {v} every day.",
            "Nothing makes {p} happier than a plate of {v}.",
            "{p} always orders {v} when eating out.",
        ],
        ["What food does {p} love?", "What is {p}'s favourite dish?"],
    ),
    _a(
        "instrument",
        "piano, violin, guitar, cello, drums, flute, trumpet, harp, saxophone, clarinet",
        [
            "{p} plays the {v}.",
            "{p} has been learning the {v} for years.",
            "The instrument {p} practises is the {v}.",
            "{p} performs music on the {v}.",
        ],
        ["What instrument does {p} play?", "Which musical instrument does {p} practise?"],
    ),
    _a(
        "car",
        "Toyota, Volvo, Tesla, Fiat, Subaru, Honda, Skoda, Mazda, Kia, Peugeot",
        ["{p} drives a {v}.", "{p}'s car is a {v}.", "{p} commutes in a {v}.", "The vehicle {p} owns is a {v}."],
        ["What car does {p} drive?", "Which brand of car does {p} own?"],
    ),
    _a(
        "language",
        "Portuguese, Japanese, Swahili, Polish, Vietnamese, Greek, Finnish, Hindi, Dutch, Turkish",
        [
            "{p} is learning {v}.",
            "{p} takes {v} lessons twice a week.",
            "{p} is studying the {v} language.",
            "{p} wants to become fluent in {v}.",
        ],
        ["Which language is {p} learning?", "What language does {p} study?"],
    ),
    _a(
        "book",
        "Dune, Emma, Ulysses, Beloved, Middlemarch, Rebecca, Persuasion, Frankenstein, Dracula, Kindred",
        [
            "{p}'s favourite book is {v}.",
            "{p} has read {v} many times.",
            "The novel {p} recommends to everyone is {v}.",
            "{p} keeps a worn copy of {v} by the bed.",
        ],
        ["What is {p}'s favourite book?", "Which novel does {p} recommend?"],
    ),
    _a(
        "birthday",
        "January, February, March, April, May, June, July, August, September, October",
        [
            "{p}'s birthday is in {v}.",
            "{p} was born in {v}.",
            "{p} celebrates turning a year older every {v}.",
            "Every {v}, {p} has a birthday party.",
        ],
        ["When is {p}'s birthday?", "In which month was {p} born?"],
    ),
    _a(
        "hobby",
        "gardening, knitting, pottery, birdwatching, baking, woodworking, painting, origami, fishing, hiking",
        [
            "{p}'s hobby is {v}.",
            "In spare time, {p} enjoys {v}.",
            "{p} relaxes by doing {v}.",
            "{p} spends free evenings on {v}.",
        ],
        ["What is {p}'s hobby?", "What does {p} do to relax?"],
    ),
)


@dataclass(frozen=True)
class Fact:
    """One fact: a person, an attribute and its value, with phrasings."""

    person: str
    attribute: Attribute
    value: str

    def statement(self, i: int) -> str:
        """The ``i``-th statement phrasing (0 is the stored text)."""
        return self.attribute.statements[i].format(p=self.person, v=self.value)

    def question(self, i: int) -> str:
        """The ``i``-th question phrasing (never contains the value)."""
        return self.attribute.questions[i].format(p=self.person)


def make_facts(n: int, seed: int = 0) -> list[Fact]:
    """``n`` facts with distinct (person, attribute) pairs.

    Raises:
        ValueError: more facts asked for than distinct pairs exist.
    """
    rng = random.Random(seed)
    first = list(dict.fromkeys(FIRST))
    last = list(dict.fromkeys(LAST))
    pairs_available = len(first) * len(last) * len(ATTRIBUTES)
    if n > pairs_available:
        raise ValueError(f"at most {pairs_available} facts can be generated")
    seen: set[tuple[str, str]] = set()
    facts: list[Fact] = []
    while len(facts) < n:
        person = f"{rng.choice(first)} {rng.choice(last)}"
        attribute = rng.choice(ATTRIBUTES)
        if (person, attribute.name) in seen:
            continue
        seen.add((person, attribute.name))
        facts.append(Fact(person, attribute, rng.choice(attribute.values)))
    return facts
