"""Push notifications: violations and faults to a webhook, a WeCom or a DingTalk group robot."""
