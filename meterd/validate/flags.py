"""Every finding the checks can make, in one place: its flag (the stable code in JSON output, metrics
and the store), its name in words in Polish and English (staff pages, reports), and whether the tenant's
page tells of it as a notice; and the words for the alarms meters report themselves. Pure data; the
checks (meterd.validate.checks) make the findings and meterd.validate.reasons says why, with the numbers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    name: str
    pl: str
    en: str
    tenants_see: bool = False  # a notice on the tenant's page (and, with consent, by e-mail)
    of_building: bool = False  # a finding of a building, not of one meter


FLAGS: dict[str, Flag] = {f.name: f for f in (
    Flag("backflow", "przepływ zwrotny", "backflow"),
    Flag("jump", "nieprawdopodobny skok", "implausible jump"),
    Flag("leak", "wyciek", "leak", tenants_see=True),
    Flag("burst", "awaria (pęknięcie)", "burst", tenants_see=True),
    Flag("stuck", "zatrzymany licznik", "stuck meter"),
    Flag("outlier", "wartość odstająca", "outlier"),
    Flag("missing", "brak odczytów", "missing readings", tenants_see=True),
    Flag("clock_skew", "błędny zegar", "clock skew"),
    Flag("meter_alarm", "alarm wodomierza", "meter alarm", tenants_see=True),
    Flag("counter_reset", "wyzerowany licznik", "counter reset"),
    Flag("credit_not_seen", "kredyt nieodnotowany", "credit not seen"),
    Flag("low_credit", "niski kredyt", "low credit"),
    Flag("valve_closed_with_credit", "zawór zamknięty mimo kredytu", "valve closed with credit"),
    Flag("building_silent", "budynek milczy", "building silent", of_building=True),
)}  # fmt: skip
NAMES: tuple[str, ...] = tuple(FLAGS)


@dataclass(frozen=True)
class AlarmWords:
    pl: str
    en: str

    def of(self, lang: str) -> str:
        return self.pl if lang == "pl" else self.en


# the normalised alarm names a meter reports (meterd.wmbus.alarms), in words: one table for every page,
# notice, reason and screen
ALARMS: dict[str, AlarmWords] = {
    "leak": AlarmWords("wyciek", "leak"),
    "burst": AlarmWords("pęknięcie rury", "burst pipe"),
    "backflow": AlarmWords("przepływ zwrotny", "backflow"),
    "dry": AlarmWords("brak wody (sucha rura)", "dry pipe (no water)"),
    "tamper": AlarmWords("ingerencja", "tampering"),
    "magnetic": AlarmWords("ingerencja magnetyczna", "magnetic interference"),
    "removal": AlarmWords("zdjęcie wodomierza", "meter removed"),
    "blocked": AlarmWords("zablokowany wodomierz", "meter blocked"),
    "low_battery": AlarmWords("słaba bateria", "low battery"),
    "error": AlarmWords("usterka wodomierza", "meter fault"),
}


def alarm_word(lang: str, name: str) -> str:
    """An alarm name in words of `lang` (pl, else English); an unknown name as it is, without underscores."""
    words = ALARMS.get(name)
    return words.of(lang) if words is not None else name.replace("_", " ")
