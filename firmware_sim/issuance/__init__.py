"""The card factory: personalise card and PSAM images (``personalise``), one at a time or one per row of a CSV
of people (``batch``). ``sscard card new``, ``sscard card batch`` and ``sscard psam new`` run them; tests and
``scripts/make_demo_cards.py`` make their cards with them.
"""
