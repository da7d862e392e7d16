"""An application with no handlers: the publish and token tests need only Centrifugo."""

from hub import App

app = App()
