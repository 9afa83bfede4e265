"""The registry service: cases, the people they concern, their reporting requirement,
status lifecycle and history, review dates and caseworker assignment."""
