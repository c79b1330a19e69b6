"""One APIRouter per resource; handlers only map schemas to the engine and back."""
