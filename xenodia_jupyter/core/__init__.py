"""One generation's money path, in named parts: the options a client is made
with, the budget, the preparer (rules, references, price: nothing sent), the
ledger (the journal-side steps), the generator (journal -> POST -> wait ->
save) and the recoverer (finish what was paid for, no new POST); the results
they return, their exports, and the loop thread the blocking API runs on.
"""
