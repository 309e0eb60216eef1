"""Entity catalogs for voice-assistant requests.

Names are written here by hand (common given names and surnames, invented band and song name
parts, place names) or composed from Debian's word list (/usr/share/dict/american-english,
package wamerican) when it is installed. Everything is lower case, spoken form.
"""
from __future__ import annotations

import os
import random

FIRST_NAMES = """
aaron abby adam adrian aisha alan albert alex alice alicia allison amanda amber amelia amir amy
andre andrea andrew angela anita ann anna anthony antonio april arjun arthur ashley aubrey audrey
austin ava barbara beatrice ben benjamin bernard beth betty bianca bill blake bob bonnie brad
brandon brenda brian bridget brittany brooke bruce bryan caleb calvin cameron camila carl carla
carlos carmen carol caroline carter casey catherine cecilia chad charles charlie charlotte chase
chelsea chloe chris christian christina christine claire clara claude clayton cody colin connor
courtney craig crystal curtis cynthia daisy dale damian dan dana daniel danielle darius darren
dave david dawn dean debbie deborah denise dennis derek desmond diana diane diego dominic donald
donna doris dorothy douglas dylan eddie edgar edith edward eileen elaine eleanor elena eli elijah
elise eliza ella ellen elliot emily emma eric erica erin ethan eugene eva evan evelyn faith
felix fiona frances frank freddie gabriel gabriella gary gavin george georgia gerald gina glen
gloria grace grant greg gwen hailey hannah harold harper harry hazel heather hector helen henry
holly howard hugo ian irene isaac isabel isla ivan jack jackie jacob jade jake james jamie jane
janet jasmine jason jay jean jeff jenna jennifer jeremy jerry jesse jessica jill jim joan joe
joel john jonah jordan jose joseph josh joy joyce juan judith judy julia julian julie justin
karen kate katherine kathy katie keith kelly ken kevin kim kyle laura lauren leah lee leo leon
leslie liam lily linda lisa logan lois lorenzo louis lucas lucy luis luke lydia madison maggie
malcolm marcus margaret maria marie marina mark martha martin mary mason matt matthew maya megan
melissa mia michael michelle miguel mike mila miles molly monica morgan nadia naomi natalie
nathan neil nicholas nicole nina noah nora olivia omar oscar owen paige pamela patrick paul
paula peggy penny peter philip phoebe priya quinn rachel ralph ramon randy raymond rebecca
regina rena rhonda ricardo richard rick rita rob robert robin roger roman ronald rosa rose ross
ruby russell ruth ryan sally sam samantha samuel sandra sara sarah scott sean sebastian seth
shane sharon sheila shirley sienna simon sofia sonia sophie stacy stella stephanie steve
steven stuart sue susan sydney tanya tara ted teresa terry theo theresa thomas tiffany tim
timothy tina todd tom tony tracy travis trevor tyler valerie vanessa vera victor victoria
vincent violet wade walter wanda wayne wendy wesley will william willow xavier yasmin yvonne
zach zara zoe
""".split()

SURNAMES = """
adams allen alvarez anderson armstrong bailey baker banks barnes bell bennett berry bishop
black blake boyd bradley brooks brown bryant burke burns butler campbell carpenter carroll
carter castillo chapman chavez clark cole coleman collins cook cooper cox crawford cruz cunningham
daniels davis dean diaz dixon douglas duncan dunn edwards elliott ellis evans ferguson fisher
fleming fletcher ford foster fowler fox franklin freeman garcia gardner gibson gomez gonzalez
gordon graham grant gray green griffin hall hamilton hansen harper harris hart harvey hawkins
hayes henderson henry hernandez hicks hill hoffman holland holmes hopkins howard hudson hughes
hunt hunter jackson james jenkins johnson jones jordan kelly kennedy kim king knight lane
lawrence lawson lee lewis long lopez lucas marshall martin martinez mason matthews mcdonald
meyer miller mills mitchell moore morales morgan morris murphy murray myers nelson newman nguyen
nichols norris oliver olson ortiz owens palmer parker patel patterson payne perez perry peters
peterson phillips pierce porter powell price quinn ramirez ramos reed reid reyes reynolds rice
richards richardson riley rivera roberts robertson robinson rodriguez rogers rose ross russell
ryan sanchez sanders schmidt scott shaw simmons simpson sims smith snyder spencer stevens
stewart stone sullivan taylor thomas thompson torres tucker turner wagner walker wallace walsh
ward warren washington watson weaver webb wells west wheeler white williams willis wilson wood
woods wright young
""".split()

RELATIONS = """mom|dad|mother|father|grandma|grandpa|my wife|my husband|my sister|my brother|my son|
my daughter|my boss|the office|the doctor|the dentist|home|work|my neighbor|the babysitter|
the plumber|the vet|the school|my mom|my dad""".replace("\n", "").split("|")

CITIES = """
amsterdam athens atlanta austin baltimore bangkok barcelona berlin boston boulder brisbane
brooklyn brussels budapest buffalo cairo calgary cambridge chicago cincinnati cleveland
copenhagen dallas delhi denver detroit dublin edinburgh florence frankfurt geneva glasgow
hamburg helsinki honolulu houston indianapolis istanbul jacksonville kansas city las vegas
lisbon liverpool london los angeles madrid manchester melbourne memphis miami milan minneapolis
montreal moscow mumbai munich nashville new orleans new york oakland oslo ottawa paris
philadelphia phoenix pittsburgh portland prague quebec raleigh richmond rome sacramento
salt lake city san antonio san diego san francisco san jose santiago seattle seoul shanghai
singapore stockholm sydney tampa tokyo toronto tucson vancouver venice vienna warsaw
washington zurich albany anchorage aspen berkeley charleston dayton el paso fresno hartford
lincoln madison mesa omaha orlando reno savannah spokane tulsa wichita
""".strip().replace("\n", " ")
_MULTI = ["kansas city", "las vegas", "los angeles", "new orleans", "new york", "salt lake city",
          "san antonio", "san diego", "san francisco", "san jose", "el paso"]
for _m in _MULTI:
    CITIES = CITIES.replace(_m, _m.replace(" ", "_"))
CITIES = [c.replace("_", " ") for c in CITIES.split()]

STREET_TYPES = ["street", "avenue", "road", "boulevard", "lane", "drive", "way", "court", "place"]
PLACE_KINDS = ["the nearest gas station", "the closest pharmacy", "a coffee shop", "the airport",
               "the train station", "the hospital", "the library", "the mall", "the beach",
               "the nearest grocery store", "a pizza place", "the post office", "the gym",
               "the park", "downtown", "the bank", "a parking garage", "the museum",
               "the stadium", "a hardware store", "the bus stop", "a thai restaurant",
               "a mexican restaurant", "an italian restaurant", "the zoo", "the university"]

GENRES = ["jazz", "rock", "classical music", "hip hop", "country music", "blues", "reggae",
          "pop music", "folk music", "metal", "soul", "funk", "disco", "electronic music",
          "lo fi beats", "indie rock", "gospel", "punk rock", "opera", "bluegrass", "salsa",
          "ambient music", "piano music", "lullabies", "christmas music", "eighties hits",
          "nineties pop", "workout music", "relaxing music", "dance music"]
SONG_ADJ = """blue golden silver broken electric quiet wild lonely endless hidden bright crimson
velvet paper burning frozen falling rising midnight summer winter autumn sweet bitter lucky
little big lost secret distant gentle restless hollow shining dark empty open heavy""".split()
SONG_NOUN = """river heart highway moon fire rain dream road sky city ocean garden light shadow
star window train mountain letter song night morning door island mirror storm horizon
thunder feather diamond echo harbor valley bridge tide flame compass lantern""".split()
BAND_NOUN = """wolves pilots lions kings rebels strangers ghosts foxes giants engines rangers
sparrows tigers owls drifters saints sailors lanterns comets rivers""".split()

APPS = ["spotify", "netflix", "youtube", "the camera", "the calculator", "settings", "maps",
        "the calendar", "my email", "messages", "the weather app", "the clock", "photos",
        "the browser", "notes", "the music app", "podcasts", "the flashlight", "whatsapp",
        "instagram", "facebook", "twitter", "uber", "the banking app", "the news app",
        "my contacts", "the files app", "the app store", "zoom", "slack"]
DEVICES = ["the lights", "the living room lights", "the kitchen lights", "the bedroom lamp",
           "the porch light", "the fan", "the heater", "the air conditioner", "the tv",
           "the coffee maker", "the dishwasher", "the washing machine", "the garage door",
           "the front door", "the back door", "the sprinklers", "the vacuum", "the speaker",
           "the bathroom lights", "the hallway lights", "the office lights", "the fireplace",
           "the humidifier", "the oven", "the kettle", "the robot vacuum", "the blinds",
           "the outdoor lights", "the security camera", "the thermostat"]
ROOMS = ["living room", "kitchen", "bedroom", "bathroom", "office", "garage", "basement",
         "hallway", "dining room", "kids room", "guest room", "porch", "attic", "patio"]
LISTS = ["shopping list", "grocery list", "to do list", "packing list", "wish list",
         "reading list", "christmas list", "chores list", "work list", "party list"]
ITEMS = """milk eggs bread butter cheese apples bananas oranges coffee tea rice pasta tomatoes
onions garlic potatoes carrots chicken beef fish yogurt cereal flour sugar salt pepper olive oil
paper towels toilet paper soap shampoo toothpaste batteries light bulbs dog food cat food
orange juice peanut butter ice cream cookies lettuce spinach strawberries blueberries avocados
lemons honey napkins trash bags dish soap sponges diapers tissues cucumbers mushrooms""".split("\n")
ITEMS = [w for w in " ".join(ITEMS).replace("olive oil", "olive_oil").replace(
    "paper towels", "paper_towels").replace("toilet paper", "toilet_paper").replace(
    "light bulbs", "light_bulbs").replace("dog food", "dog_food").replace("cat food", "cat_food").replace(
    "orange juice", "orange_juice").replace("peanut butter", "peanut_butter").replace(
    "ice cream", "ice_cream").replace("trash bags", "trash_bags").replace("dish soap", "dish_soap").split()]
ITEMS = [w.replace("_", " ") for w in ITEMS]
TASKS = ["call the bank", "pay the rent", "pick up the kids", "buy flowers", "water the plants",
         "take out the trash", "feed the cat", "walk the dog", "book a flight", "renew my passport",
         "send the report", "clean the kitchen", "do the laundry", "check the mail",
         "take my medicine", "charge my phone", "cancel the subscription", "pick up the dry cleaning",
         "return the library books", "wash the car", "schedule a haircut", "buy a birthday present",
         "finish the presentation", "call the insurance company", "fix the faucet"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def load_dict_words(path: str = "/usr/share/dict/american-english") -> tuple[list[str], list[str]]:
    """Lower-case common words and capitalized (proper-noun) words from the Debian word list."""
    common, proper = [], []
    if not os.path.exists(path):
        return common, proper
    with open(path, encoding="utf-8", errors="ignore") as f:
        for w in f:
            w = w.strip()
            if not w.isascii() or not w.isalpha() or "'" in w or len(w) < 3:
                continue
            (proper if w[0].isupper() else common).append(w.lower())
    return common, proper


class Catalog:
    """All entity lists, split into training entities and held-out test entities."""

    def __init__(self, seed: int, heldout_frac: float = 0.1, proper: list | None = None):
        """`proper`: the word list's proper nouns (lower case); read from wamerican when None.
        Pass the list saved by `text extract` so every machine builds the same catalog."""
        rng = random.Random(seed)
        self.rng = rng
        if proper is None:
            _, proper = load_dict_words()
        # Proper nouns from wamerican extend the surname list (many are real surnames/places).
        # Drop plural/possessive-looking demonyms ("mexicans" when "mexican" exists).
        pset = set(proper)
        extra = sorted(set(p for p in proper if 4 <= len(p) <= 9 and p[:-1] not in pset)
                       - set(FIRST_NAMES) - set(CITIES))
        rng.shuffle(extra)
        self.lists = {
            "first": sorted(set(FIRST_NAMES)),
            "last": sorted(set(SURNAMES) | set(extra[:1500])),
            "city": sorted(set(CITIES)),
            "song_adj": sorted(set(SONG_ADJ)),
            "song_noun": sorted(set(SONG_NOUN)),
            "band_noun": sorted(set(BAND_NOUN)),
            "item": sorted(set(ITEMS)),
        }
        self.train, self.test = {}, {}
        for k, v in self.lists.items():
            v = list(v)
            rng.shuffle(v)
            n = max(2, int(len(v) * heldout_frac))
            self.test[k] = sorted(v[:n])
            self.train[k] = sorted(v[n:])

    def pool(self, split: str) -> dict[str, list[str]]:
        return self.train if split == "train" else self.test
