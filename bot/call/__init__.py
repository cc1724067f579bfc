"""One call's audio path: caller frames -> turns -> text -> policy/brain -> speech frames."""
