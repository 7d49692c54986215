"""The scoped read layer every face uses: access (roles and scope), aggregate views,
the account card, the headline summary, migration between snapshots and feedback."""
