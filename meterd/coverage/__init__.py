"""Radio coverage: what each gateway (and walk) hears of each meter, per day, and what follows from it
(meters heard by one gateway only, meters no gateway heard). Pure: no I/O."""
