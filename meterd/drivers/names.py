"""The receivers meterd knows, by the names `--dongle` and `[[receiver]] dongle` take."""

DONGLES = ("im871a", "amb8465", "rc1180", "cul", "iu891a", "rtlwmbus", "hex")
