"""The Mithril cloud backend: spot bids on Mithril GPU instances, over its HTTP API and SSH."""
