"""The check-in service: PINs, the expected-check-in schedule, check-ins by keypad,
SMS and in person, excusals, follow-ups and attendance summaries."""
