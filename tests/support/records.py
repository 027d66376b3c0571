"""Record shapes (DIF/VIF starts) the decoders must agree on, for property tests."""

RECORD_SHAPES = [
    "0413",
    "0213",
    "0113",
    "0713",
    "0C13",
    "0B13",
    "0513",
    "046D",
    "026C",
    "0DFD0E03",
    "04FF01",
    "07FB10",
    "0C78",
    "0E13",
    "841013",
]
