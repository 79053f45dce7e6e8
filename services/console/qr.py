"""The QR code on the registration slip: the petitioner's page with their case code, as SVG
drawn here (no image service, nothing fetched)."""

from __future__ import annotations

import io

import qrcode
from qrcode.image.svg import SvgPathImage


def qr_svg(text: str) -> str:
    """An SVG QR code of `text`, medium error correction (a slip gets folded)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
        image_factory=SvgPathImage,
    )
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue().decode()
