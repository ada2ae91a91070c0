"""The method contract: what a plugin implements and declares, and the checks that prove it."""
