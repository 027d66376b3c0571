"""The account view's words in Polish (the default) and English, and the notices in plain words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from meterd.store.notices import Notice
from meterd.validate.flags import FLAGS, alarm_word

LANGS = ("pl", "en")
LOCAL = ZoneInfo("Europe/Warsaw")

TEXT: dict[str, tuple[str, str]] = {
    # key: (Polish, English)
    "title": ("Odczyty wodomierzy", "Water meter readings"),
    "portal": ("IOK — Internetowa Obsługa Kontrahenta", "IOK — customer portal"),
    "login": ("Login", "Login"),
    "password": ("Hasło", "Password"),
    "log_in": ("Zaloguj", "Log in"),
    "log_out": ("Wyloguj", "Log out"),
    "login_title": ("Logowanie", "Log in"),
    "wrong_login": ("Błędny login lub hasło.", "Wrong login or password."),
    "too_many": ("Zbyt wiele nieudanych prób. Spróbuj ponownie za kilka minut.",
                 "Too many failed attempts. Try again in a few minutes."),
    "bad_form": ("Formularz wygasł. Spróbuj jeszcze raz.", "The form expired. Please try again."),
    "forgot": ("Pierwsze logowanie lub nie pamiętasz hasła?", "First login or forgot your password?"),
    "email": ("Adres e-mail", "E-mail address"),
    "send_link": ("Wyślij link logowania", "Send a login link"),
    "link_sent": ("Jeśli adres jest w naszym rejestrze, wysłaliśmy na niego link logowania ważny {h} h.",
                  "If the address is in our register, a login link valid for {h} h is on its way."),
    "link_bad": ("Ten link wygasł albo został już użyty. Poproś o nowy.",
                 "This link has expired or was used already. Ask for a new one."),
    "mail_down": ("Nie możemy teraz wysłać e-maila. Spróbuj później lub skontaktuj się z administracją.",
                  "We cannot send e-mail now. Try later or contact the office."),
    "set_password": ("Ustaw hasło", "Set your password"),
    "new_password": ("Nowe hasło (co najmniej 10 znaków)", "New password (at least 10 characters)"),
    "repeat_password": ("Powtórz hasło", "Repeat the password"),
    "save": ("Zapisz", "Save"),
    "passwords_differ": ("Hasła się różnią.", "The passwords differ."),
    "password_short": ("Hasło musi mieć co najmniej 10 znaków.", "A password has at least 10 characters."),
    "password_long": ("Hasło może mieć najwyżej 256 znaków.", "A password has at most 256 characters."),
    "password_login": ("Hasło nie może być loginem ani adresem e-mail.",
                       "A password must not be the login or the e-mail address."),
    "password_guessable": ("To hasło łatwo odgadnąć (popularne hasło, słowo, ciąg lub powtórzenia). "
                           "Wybierz dłuższe, np. kilka niezwiązanych słów.",
                           "This password is easy to guess (a common password, a word, a sequence or repeats). "
                           "Choose a longer one, e.g. a few unrelated words."),
    "flat": ("Lokal", "Flat"),
    "meters": ("Wodomierze", "Meters"),
    "meter": ("Wodomierz", "Meter"),
    "medium": ("Rodzaj", "Kind"),
    "water": ("woda zimna", "cold water"),
    "warm_water": ("woda ciepła", "warm water"),
    "hot_water": ("woda gorąca", "hot water"),
    "last_reading": ("Ostatni odczyt", "Last reading"),
    "date": ("Data", "Date"),
    "installed": ("Zamontowany", "Installed"),
    "removed": ("Zdemontowany", "Removed"),
    "in_place": ("w lokalu", "in place"),
    "no_readings": ("Brak odczytów w tym okresie.", "No readings in this period."),
    "estimated": ("szacowany", "estimated"),
    "monthly": ("Zużycie miesięczne", "Monthly consumption"),
    "chart_label": ("Zużycie wody w m³ w kolejnych miesiącach, w tym roku i rok wcześniej",
                    "Water used in m³ per month, this year and a year earlier"),
    "this_year": ("ten rok", "this year"),
    "last_year": ("rok wcześniej", "a year earlier"),
    "month": ("Miesiąc", "Month"),
    "use_m3": ("Razem [m³]", "Total [m³]"),
    "year_ago_m3": ("Rok wcześniej [m³]", "A year earlier [m³]"),
    "change": ("Zmiana", "Change"),
    "notices": ("Komunikaty", "Notices"),
    "attention": ("Uwaga", "Notice"),
    "no_notices": ("Brak komunikatów.", "No notices."),
    "download_csv": ("Pobierz odczyty (CSV)", "Download readings (CSV)"),
    "consent": ("Powiadomienia e-mail", "E-mail notices"),
    "consent_on": ("Wysyłamy powiadomienia o możliwym wycieku i brakujących odczytach na adres {email} "
                   "(zgoda udzielona {when}).", "We e-mail notices of a suspected leak and missing readings to "
                   "{email} (consent given {when})."),
    "consent_off": ("Nie wysyłamy powiadomień e-mail.", "We send no e-mail notices."),
    "consent_no_email": ("Nie mamy Twojego adresu e-mail: zgłoś go w administracji, aby otrzymywać powiadomienia.",
                         "We have no e-mail address of yours: give it to the office to get notices."),
    "consent_give": ("Chcę otrzymywać powiadomienia e-mail", "E-mail me notices"),
    "consent_withdraw": ("Wycofuję zgodę na powiadomienia", "Withdraw my consent to notices"),
    "tenancy_ended": ("Najem zakończony {date}: widzisz dane do tego dnia.",
                      "Tenancy ended on {date}: you see the data up to that day."),
    "language": ("Język", "Language"),
    "skip": ("Przejdź do treści", "Skip to content"),
    "no_premises": ("Do tego konta nie przypisano lokalu.", "No flat is assigned to this account."),
    "staff": ("Obsługa", "Staff"),
    "search": ("Szukaj", "Search"),
    "search_hint": ("Lokal, numer wodomierza lub adres", "Premises, meter number or address"),
    "results": ("Wyniki", "Results"),
    "nothing_found": ("Nic nie znaleziono.", "Nothing found."),
    "raw_readings": ("Ostatnie odczyty (do 48, z 30 dni)", "Latest readings (up to 48, of 30 days)"),
    "anomalies": ("Anomalie", "Anomalies"),
    "no_anomalies": ("Brak anomalii.", "No anomalies."),
    "confirm": ("Potwierdź", "Confirm"),
    "reject": ("Odrzuć", "Reject"),
    "undo": ("Cofnij", "Undo"),
    "comment": ("Komentarz", "Comment"),
    "confirmed": ("potwierdzona", "confirmed"),
    "rejected": ("odrzucona", "rejected"),
    "audit": ("Dziennik dostępu", "Access log"),
    "source": ("Źródło", "Source"),
    "alarms": ("Alarmy", "Alarms"),
    "flag": ("Rodzaj", "Kind"),
    "reason": ("Opis", "Reason"),
    "from": ("Od", "From"),
    "to": ("Do", "To"),
    "who": ("Kto", "Who"),
    "action": ("Czynność", "Action"),
    "incoming": ("Sprzeczne i odrzucone odczyty", "Conflicting and refused readings"),
    "conflicts": ("Sprzeczne odczyty (ten sam licznik i czas, inna wartość)",
                  "Conflicting readings (same meter and time, another value)"),
    "no_conflicts": ("Brak sprzecznych odczytów.", "No conflicting readings."),
    "refused": ("Odrzucone przez centralę", "Refused centrally"),
    "no_refused": ("Nic nie odrzucono.", "Nothing refused."),
    "measured": ("Pomiar", "Measured"),
    "found": ("Wykryto", "Found"),
    "stored_first": ("Zapisany wcześniej", "Stored first"),
    "arrived": ("Nadesłany", "Arrived"),
    "gateway": ("Bramka", "Gateway"),
    "content": ("Treść", "Content"),
    "noted": ("zapisany, do wglądu", "stored, for a look"),
    "report_title": ("Zgłoś odczyt wodomierza", "Report a meter reading"),
    "report_intro": ("Dla wodomierzy, których nie odczytujemy radiowo, lub gdy odczyt budzi wątpliwości. Odczyt liczy "
                     "się po sprawdzeniu przez administrację.",
                     "For meters we do not read by radio, or when a reading seems wrong. It counts once the office "
                     "has checked it."),
    "report_value": ("Stan wodomierza [m³], np. 123,456", "Reading [m³], e.g. 123.456"),
    "report_date": ("Data odczytu (puste: dziś)", "Date read (empty: today)"),
    "report_photo": ("Zdjęcie tarczy (JPEG lub PNG, do 5 MB, nieobowiązkowe)", "Photo of the dial (JPEG or PNG, up to 5 MB, optional)"),
    "report_send": ("Wyślij odczyt", "Send the reading"),
    "report_list": ("Zgłoszone odczyty", "Reported readings"),
    "report_pending": ("czeka na sprawdzenie", "waiting to be checked"),
    "report_accepted": ("przyjęty", "accepted"),
    "report_rejected": ("odrzucony", "rejected"),
    "photo": ("zdjęcie", "photo"),
    "tenant_reports": ("Odczyty zgłoszone przez lokatorów, do sprawdzenia", "Readings reported by tenants, to check"),
    "accept": ("Przyjmij", "Accept"),
    "reported_by": ("Zgłosił", "Reported by"),
    "review": ("Ocena", "Review"),
    "where_hung": ("Gdzie wisiał", "Where it hung"),
    "initial_reading": ("Odczyt początkowy", "Initial reading"),
    "final_reading": ("Odczyt końcowy", "Final reading"),
    "latest": ("ostatni dotąd", "latest so far"),
    "history": ("Cała historia", "Whole history"),
    "all_readings": ("Wszystkie odczyty", "All readings"),
    "mail_footer": ("Zgodę na powiadomienia możesz wycofać na stronie: {url}", "You can withdraw your consent to notices at: {url}"),
    "mail_notice_subject": ("IOK: komunikat o wodomierzu", "IOK: water meter notice"),
    "mail_statement_subject": ("IOK: zużycie wody za {month}, lokal {flat}", "IOK: water use in {month}, flat {flat}"),
    "statement_title": ("Informacja o zużyciu wody za {month}", "Water use in {month}"),
    "statement_link": ("Informacja o zużyciu za poprzedni miesiąc", "Last month's water use statement"),
    "month_end": ("Stan na koniec miesiąca", "Month-end reading"),
    "month_before_m3": ("Miesiąc wcześniej [m³]", "The month before [m³]"),
    "statements": ("Wcześniejsze miesiące", "Earlier months"),
    "worklist": ("Lista zgłoszeń do sprawdzenia", "Worklist of findings"),
    "any": ("dowolne", "any"),
    "severity": ("Waga", "Severity"),
    "status": ("Stan", "Status"),
    "age_days": ("Z ostatnich dni", "Of the last days"),
    "age": ("Wiek", "Age"),
    "findings": ("Znaleziono: {n}.", "Findings: {n}."),
    "pages": ("Strony", "Pages"),
    "previous_page": ("poprzednia", "previous"),
    "next_page": ("następna", "next"),
    "coverage": ("Zasięg radiowy", "Radio coverage"),
    "premises": ("Lokal", "Premises"),
    "gateways": ("Bramek", "Gateways"),
    "coverage_intro": ("Które bramki słyszą wodomierze w okresie {since}: liczniki słyszane przez dwie bramki lub "
                       "więcej nie zamilkną po awarii jednej.",
                       "Which gateways hear the meters over {since}: meters heard by two gateways or more do not "
                       "fall silent when one fails."),
    "period": ("Okres", "Period"),
    "show": ("Pokaż", "Show"),
    "building": ("Budynek", "Building"),
    "redundant": ("Słyszane przez ≥ 2 bramki", "Heard by ≥ 2 gateways"),
    "single": ("Tylko przez jedną", "By one only"),
    "unheard": ("Niesłyszane", "Unheard"),
    "weakest": ("Najsłabszy sygnał", "Weakest link"),
    "plan_walk": ("Plan obchodu (CSV)", "Plan a walk (CSV)"),
    "weakest_links": ("Najsłabsze połączenia", "Weakest links"),
    "best_gateway": ("Najlepsza bramka", "Best gateway"),
    "rssi": ("Sygnał (mediana, dBm)", "Signal (median, dBm)"),
    "unheard_meters": ("Liczniki, których nie słyszy żadna bramka", "Meters no gateway hears"),
    "nobody": ("brak", "none"),
    "all_buildings": ("wszystkie budynki", "all buildings"),
}

NOTICE: dict[str, tuple[str, str]] = {
    "leak": ("Możliwy wyciek: woda płynęła bez przerwy przez {days} ({meter}, {medium}). Sprawdź spłuczkę i krany.",
             "Possible leak: water flowed without a break for {days} ({meter}, {medium}). Check the cistern and taps."),
    "leak_ended": ("Możliwy wyciek od {since} do {until}: woda płynęła bez przerwy przez {days} ({meter}).",
                   "Possible leak from {since} to {until}: water flowed without a break for {days} ({meter})."),
    "meter_alarm": ("Wodomierz {meter} zgłosił alarm ({alarms}) od {since}. Skontaktujemy się w razie potrzeby.",
                    "Meter {meter} reported an alarm ({alarms}) since {since}. We will contact you if needed."),
    "missing": ("Brak odczytów z wodomierza {meter} ({medium}) od {since}, czyli od {days}.",
                "No readings from meter {meter} ({medium}) since {since}, for {days}."),
    "estimated": ("{count} odczytów wodomierza {meter} od {since} do {until} to wartości szacowane, "
                  "oznaczone w tabeli i w pliku CSV.",
                  "{count} readings of meter {meter} from {since} to {until} are estimated values, "
                  "marked in the table and in the CSV file."),
}  # fmt: skip

# the codes staff pages show, in words: (pl, en)
TERMS: dict[str, tuple[str, str]] = {
    # anomaly flags: from their registry
    **{f.name: (f.pl, f.en) for f in FLAGS.values()},
    # severities
    "info": ("informacja", "info"), "warning": ("ostrzeżenie", "warning"), "critical": ("krytyczne", "critical"),
    # sources of readings
    "radio": ("radio", "radio"), "walkby": ("odczyt inkasenta", "walk-by"), "wired": ("M-Bus przewodowy", "wired M-Bus"),
    "manual": ("wpisany ręcznie", "entered by hand"), "estimate": ("szacunek", "estimate"),
    "tenant": ("zgłoszony przez lokatora", "reported by tenant"),
    # audit actions and roles
    "search": ("wyszukiwanie", "search"), "view_premises": ("podgląd lokalu", "premises viewed"),
    "view_audit": ("podgląd dziennika", "audit log viewed"), "view_coverage": ("podgląd zasięgu", "coverage viewed"),
    "view_incoming": ("podgląd odrzuconych", "incoming viewed"), "view_worklist": ("podgląd listy zgłoszeń", "worklist viewed"),
    "tenant_reported": ("odczyt zgłoszony przez lokatora", "reading reported by tenant"),
    "tenant_reading_accepted": ("odczyt lokatora przyjęty", "tenant's reading accepted"),
    "tenant_reading_rejected": ("odczyt lokatora odrzucony", "tenant's reading rejected"),
    "view_photo": ("podgląd zdjęcia", "photo viewed"), "view_meter": ("podgląd wodomierza", "meter viewed"), "plan_walk": ("plan obchodu", "walk planned"),
    "confirmed": ("potwierdzona", "confirmed"), "rejected": ("odrzucona", "rejected"),
    "review_undone": ("cofnięcie oceny", "review undone"),
    "consent_given": ("zgoda na powiadomienia", "consent given"),
    "consent_withdrawn": ("wycofanie zgody", "consent withdrawn"),
    "staff": ("pracownik", "staff"), "admin": ("administrator", "admin"),
}  # fmt: skip


def term(lang: str, code: str) -> str:
    """A code (flag, severity, source, audit action, role) in words; an unknown code as it is."""
    return TERMS[code][pick(lang)] if code in TERMS else code


def alarm_terms(lang: str, names: list[str]) -> str:
    return ", ".join(alarm_word(lang, n) for n in names)


def pick(lang: str) -> int:
    return 1 if lang == "en" else 0


def t(lang: str, key: str, **values: object) -> str:
    text = TEXT[key][pick(lang)]
    return text.format(**values) if values else text


def days_text(lang: str, days: float) -> str:
    """'3 doby' / '3 days'; below two days in hours."""
    if days < 2:
        hours = max(1, round(days * 24))
        if lang == "en":
            return f"{hours} hour" + ("" if hours == 1 else "s")
        return f"{hours} " + ("godzinę" if hours == 1 else "godziny" if 2 <= hours % 10 <= 4 and not 12 <= hours % 100 <= 14 else "godzin")
    n = int(days)
    if lang == "en":
        return f"{n} days"
    return f"{n} " + ("dobę" if n == 1 else "doby" if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else "dni")


def local_date(t_s: int, lang: str) -> str:
    """A day in local time, as people write it: 06.12.2026 in Polish, 2026-12-06 in English."""
    return datetime.fromtimestamp(t_s, LOCAL).strftime("%d.%m.%Y" if lang == "pl" else "%Y-%m-%d")


def local_time(t_s: int, lang: str) -> str:
    """A moment in local time: 06.12.2026 07:05 in Polish, 2026-12-06 07:05 in English."""
    return datetime.fromtimestamp(t_s, LOCAL).strftime("%d.%m.%Y %H:%M" if lang == "pl" else "%Y-%m-%d %H:%M")


def medium(lang: str, name: str) -> str:
    return TEXT[name][pick(lang)] if name in TEXT else name


def notice_text(lang: str, n: Notice) -> str:
    i = pick(lang)
    values = {"meter": n.meter, "medium": medium(lang, n.medium), "since": local_date(n.since, lang),
              "until": local_date(n.until, lang) if n.until is not None else "", "days": days_text(lang, n.days)}  # fmt: skip
    if n.kind == "leak":
        return NOTICE["leak" if n.until is None else "leak_ended"][i].format(**values)
    if n.kind == "meter_alarm":
        names = [alarm_word(lang, a) for a in n.detail.split(",") if a]
        return NOTICE["meter_alarm"][i].format(alarms=", ".join(names) or "?", **values)
    if n.kind == "estimated":
        return NOTICE["estimated"][i].format(count=n.detail, **values)
    return NOTICE[n.kind][i].format(**values)
