"""Short human reasons for findings, in English and Polish."""

from __future__ import annotations

import math

from meterd.validate.flags import alarm_word

# (flag, detail) → (English, Polish); {v} = value, {l} = limit, {a} = alarm name
TEXTS: dict[tuple[str, str], tuple[str, str]] = {
    ("backflow", ""): (
        "register went back by {v:.3f} m3 (tolerance {l:.3f} m3): backflow",
        "licznik cofnął się o {v:.3f} m3 (tolerancja {l:.3f} m3): przepływ zwrotny",
    ),
    ("counter_reset", "reset"): (
        "register dropped from {v:.3f} to {l:.3f} m3: meter reset or replaced",
        "licznik spadł z {v:.3f} do {l:.3f} m3: reset lub wymiana wodomierza",
    ),
    ("counter_reset", "swap"): (
        "register dropped from {v:.3f} to {l:.3f} m3 at a recorded meter swap",
        "licznik spadł z {v:.3f} do {l:.3f} m3 przy zarejestrowanej wymianie wodomierza",
    ),
    ("jump", ""): (
        "{v:.3f} m3 between two readings, more than overload flow Q4 allows ({l:.3f} m3)",
        "{v:.3f} m3 między odczytami, więcej niż pozwala przepływ przeciążeniowy Q4 ({l:.3f} m3)",
    ),
    ("burst", ""): (
        "flow of {v:.2f} m3/h over a short period (limit {l:.2f} m3/h): possible pipe burst",
        "przepływ {v:.2f} m3/h w krótkim czasie (próg {l:.2f} m3/h): możliwa awaria instalacji",
    ),
    ("leak", "continuous"): (
        "water flowed without a break for over {l:.0f} h (average {v:.3f} m3/h): possible leak",
        "woda płynęła bez przerwy ponad {l:.0f} h (średnio {v:.3f} m3/h): możliwy wyciek",
    ),
    ("leak", "night_flow"): (
        "lowest night flow {v:.3f} m3/h above {l:.3f} m3/h: possible leak",
        "minimalny przepływ nocny {v:.3f} m3/h powyżej {l:.3f} m3/h: możliwy wyciek",
    ),
    ("stuck", ""): (
        "no consumption for {v:.0f} days while other flats in the building use water: meter may be stuck",
        "brak zużycia przez {v:.0f} dni, gdy inne lokale w budynku zużywają wodę: wodomierz może stać",
    ),
    ("outlier", ""): (
        "use of {v:.3f} m3 a day this month, far above the building's median {l:.3f} m3 a day for similar flats",
        "zużycie {v:.3f} m3 na dobę w tym miesiącu, znacznie powyżej mediany budynku {l:.3f} m3 na dobę "
        "dla podobnych lokali",
    ),
    ("missing", ""): (
        "no reading for {v:.1f} h of expected activity (allowed {l:.1f} h)",
        "brak odczytu przez {v:.1f} h oczekiwanej aktywności (dopuszczalne {l:.1f} h)",
    ),
    ("missing", "silent"): (
        "silent for {v:.1f} h of expected activity since its last reading (allowed {l:.1f} h)",
        "brak sygnału przez {v:.1f} h oczekiwanej aktywności od ostatniego odczytu (dopuszczalne {l:.1f} h)",
    ),
    ("missing", "never"): ("no reading at all in this period", "brak jakiegokolwiek odczytu w tym okresie"),
    ("building_silent", "building"): (
        "nearly every meter of the building silent for {v:.1f} h at once: its gateway or power was out, not the meters",
        "prawie wszystkie wodomierze budynku milczały naraz przez {v:.1f} h: nie działała bramka lub zasilanie, "
        "nie wodomierze",
    ),
    ("credit_not_seen", ""): (
        "credit of {v:.2f} sold, not seen in the meter within {l:.0f} days",
        "doładowanie {v:.2f} sprzedane, a w wodomierzu niewidoczne przez {l:.0f} dni",
    ),
    ("valve_closed_with_credit", ""): (
        "valve closed with credit {v:.2f} left (at least {l:.2f}): the tenant has no water although credit remains",
        "zawór zamknięty przy pozostałym kredycie {v:.2f} (co najmniej {l:.2f}): lokator bez wody mimo kredytu",
    ),
    ("low_credit", ""): (
        "credit {v:.2f} left, below {l:.2f}",
        "pozostały kredyt {v:.2f}, poniżej {l:.2f}",
    ),
    ("clock_skew", "future"): (
        "measured-at lies {v:.0f} s in the future (tolerance {l:.0f} s): meter clock wrong",
        "czas pomiaru {v:.0f} s w przyszłości (tolerancja {l:.0f} s): zegar wodomierza błędny",
    ),
    ("clock_skew", "behind"): (
        "measured-at {v:.0f} s behind receipt (limit {l:.0f} s): meter clock wrong or data delayed",
        "czas pomiaru {v:.0f} s przed odbiorem (limit {l:.0f} s): błędny zegar lub opóźnione dane",
    ),
}


class _PolishNumber(float):
    """A number that formats with a decimal comma, for the Polish texts."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec).replace(".", ",")


def reason(flag: str, detail: str, value: float, limit: float, lang: str = "en") -> str:
    k = 1 if lang == "pl" else 0
    if flag == "meter_alarm":
        name, _, state = detail.partition(":")
        text = alarm_word(lang, name)
        if lang == "pl":
            return f"wodomierz zgłasza alarm: {text} ({'aktywny' if state == 'active' else 'historyczny'})"
        return f"meter reports alarm: {text} ({'active' if state == 'active' else 'historical, cleared'})"
    template = TEXTS.get((flag, detail)) or TEXTS.get((flag, ""))
    if template is None:
        return flag
    v = 0.0 if math.isnan(value) else value
    lim = 0.0 if math.isnan(limit) else limit
    if k == 1:
        return template[k].format(v=_PolishNumber(v), l=_PolishNumber(lim))
    return template[k].format(v=v, l=lim)
