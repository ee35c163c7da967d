"""Browser pages shared by every role: sign-in, the page layout, page errors and languages."""
