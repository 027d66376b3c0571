"""The walk's words in Polish and English, and the language a terminal's locale asks for."""

from __future__ import annotations

from collections.abc import Mapping

from meterd.validate.flags import alarm_word

LANGS = ("pl", "en")

WORDS: dict[str, tuple[str, str]] = {  # key: (pl, en)
    "route": ("Trasa", "Route"),
    "read": ("odczytane", "read"),
    "alarm": ("alarm", "alarm"),
    "confirm": ("do potwierdzenia", "confirm"),
    "by_hand": ("ręcznie", "by hand"),
    "not_yet": ("jeszcze nie", "not yet"),
    "heard": ("odebrano", "heard"),
    "off_route": ("spoza trasy", "off route"),
    "quit": ("q: koniec", "q: end"),
    "last_heard": ("Ostatnio odebrane", "Last heard"),
    "meter": ("wodomierz", "meter"),
    "attention": ("Wymaga uwagi", "Needs attention"),
    "stop": ("nr", "stop"),
    "premises": ("lokal", "premises"),
    "state": ("stan", "state"),
    "why": ("powód", "why"),
    "next": ("Następne nieodczytane", "Next not yet read"),
    "address": ("adres", "address"),
    "state.not yet": ("nieodczytany", "not yet"),
    "state.read": ("odczytany", "read"),
    "state.read, alarm": ("odczytany, alarm", "read, alarm"),
    "state.needs confirmation": ("do potwierdzenia", "needs confirmation"),
    "state.entered by hand": ("wpisany ręcznie", "entered by hand"),
    "below": ("{total} m3 to mniej niż ostatni odczyt {previous} m3",
              "{total} m3 is below the last reading {previous} m3"),
    "beyond_q3": ("{total} m3 to więcej, niż Q3 mógł przepuścić od ostatniego odczytu ({most} m3)",
                  "{total} m3 is more than Q3 could pass since the last reading ({most} m3)"),
    "summary": ("trasa {route}: odczytano {done} z {total} wodomierzy ({alarm} z alarmem, {confirm} do potwierdzenia, "
                "{manual} ręcznie), {not_yet} jeszcze nie; {heard} odczytów odebranych w {minutes} min",
                "route {route}: {done} of {total} meters read ({alarm} with alarm, {confirm} to confirm, "
                "{manual} by hand), {not_yet} not yet; {heard} readings heard in {minutes} min"),
}  # fmt: skip


def word(lang: str, key: str, **values: object) -> str:
    text = WORDS[key][0 if lang == "pl" else 1]
    return text.format(**values) if values else text


def alarm_words(lang: str, alarms: tuple[str, ...]) -> str:
    return ", ".join(alarm_word(lang, a) for a in alarms)


def locale_lang(environ: Mapping[str, str]) -> str:
    """`pl` when the terminal's locale is Polish (LC_ALL, then LC_MESSAGES, then LANG), else `en`."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "pl" if value.lower().startswith("pl") else "en"
    return "en"
