"""The dispatcher's live map: the page and the GeoJSON layers it refreshes from."""
