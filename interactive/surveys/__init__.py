"""SMS surveys: builder, sessions, answers, results."""
