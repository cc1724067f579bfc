"""Speech recognition engines behind one interface (`base.AsrEngine`), chosen by name (`registry`)."""
